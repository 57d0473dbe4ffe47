package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

const usageColumns = `unique_id, address, version, seats, monthly_active_contacts, connection_disabled, received_at`

func scanUsage(row pgx.CollectableRow) (domain.UsageRecord, error) {
	var u domain.UsageRecord
	err := row.Scan(&u.UniqueID, &u.Address, &u.Version, &u.Seats, &u.MonthlyActiveContacts, &u.ConnectionDisabled, &u.ReceivedAt)
	return u, err
}

// Usage returns a workspace's usage history (newest first, at most limit
// reports) with the limits of the license its view holds.
// domain.ErrWorkspaceNotFound when it has no view.
func (s *Store) Usage(ctx context.Context, workspaceID string, limit int) (domain.Usage, error) {
	u := domain.Usage{WorkspaceID: workspaceID}
	err := s.pool.QueryRow(ctx, `SELECT license_sequence, max_active_users, max_monthly_active_contacts FROM views WHERE workspace_id = $1`, workspaceID).
		Scan(&u.LicenseSequence, &u.Limits.ActiveUsers, &u.Limits.MonthlyActiveContacts)
	if pgdb.IsNoRows(err) {
		return u, domain.ErrWorkspaceNotFound
	}
	if err != nil {
		return u, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+usageColumns+` FROM usage_reports WHERE workspace_id = $1
		ORDER BY received_at DESC, id DESC LIMIT $2`, workspaceID, limit)
	if err != nil {
		return u, err
	}
	if u.History, err = pgx.CollectRows(rows, scanUsage); err != nil {
		return u, err
	}
	if len(u.History) > 0 {
		u.Latest = &u.History[0]
	}
	return u, nil
}

// OverLimit returns up to limit workspaces, by id after the id after, whose
// last report exceeds a limit of the license their view holds. A withdrawn
// license limits nothing.
func (s *Store) OverLimit(ctx context.Context, after string, limit int) ([]domain.Usage, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.workspace_id, v.license_sequence, v.max_active_users, v.max_monthly_active_contacts,
			r.unique_id, r.address, r.version, r.seats, r.monthly_active_contacts, r.connection_disabled, r.received_at
		FROM views v
		CROSS JOIN LATERAL (SELECT `+usageColumns+` FROM usage_reports u WHERE u.workspace_id = v.workspace_id
			ORDER BY received_at DESC, id DESC LIMIT 1) r
		WHERE v.workspace_id > $1 AND NOT v.remove_license
			AND (v.reported_seats > v.max_active_users OR v.reported_mac > v.max_monthly_active_contacts)
		ORDER BY v.workspace_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Usage, error) {
		var u domain.Usage
		var r domain.UsageRecord
		err := row.Scan(&u.WorkspaceID, &u.LicenseSequence, &u.Limits.ActiveUsers, &u.Limits.MonthlyActiveContacts,
			&r.UniqueID, &r.Address, &r.Version, &r.Seats, &r.MonthlyActiveContacts, &r.ConnectionDisabled, &r.ReceivedAt)
		u.Latest = &r
		return u, err
	})
}
