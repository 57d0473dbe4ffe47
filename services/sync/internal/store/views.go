package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

const viewColumns = `workspace_id, revision, license_sequence, license, license_address, remove_license, updated_at, last_synced_at`

func scanView(row pgx.Row) (domain.View, error) {
	var v domain.View
	err := row.Scan(&v.WorkspaceID, &v.Revision, &v.LicenseSequence, &v.License, &v.LicenseAddress, &v.RemoveLicense, &v.UpdatedAt, &v.LastSyncedAt)
	if pgdb.IsNoRows(err) {
		return v, domain.ErrWorkspaceNotFound
	}
	return v, err
}

// View returns a workspace's view.
func (s *Store) View(ctx context.Context, workspaceID string) (domain.View, error) {
	return scanView(s.pool.QueryRow(ctx, `SELECT `+viewColumns+` FROM views WHERE workspace_id = $1`, workspaceID))
}

const applyLicense = `INSERT INTO views (workspace_id, revision, license_sequence, license, license_address,
		max_active_users, max_monthly_active_contacts)
	VALUES ($1, nextval('view_revision'), $2, $3, $4, $5, $6)
	ON CONFLICT (workspace_id) DO UPDATE SET
		revision = nextval('view_revision'), license_sequence = EXCLUDED.license_sequence,
		license = EXCLUDED.license, license_address = EXCLUDED.license_address, remove_license = false,
		max_active_users = EXCLUDED.max_active_users, max_monthly_active_contacts = EXCLUDED.max_monthly_active_contacts,
		updated_at = now()
	WHERE views.license_sequence < EXCLUDED.license_sequence`

// ApplyLicense puts lic in the workspace's view unless the view already holds
// that license or a later one, and reports whether it changed the view. The
// update takes its revision only after it holds the row lock, so two writers
// of one workspace can never leave the older revision on top.
func (s *Store) ApplyLicense(ctx context.Context, q pgdb.Querier, workspaceID string, lic domain.License) (bool, error) {
	tag, err := q.Exec(ctx, applyLicense, workspaceID, lic.Sequence, lic.Token, lic.Address, lic.Limits.ActiveUsers, lic.Limits.MonthlyActiveContacts)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// ApplyLicenseView applies lic (see ApplyLicense) and returns the view as it
// stands afterwards, with lic or a later license. The view is read by a
// statement of its own: when a concurrent writer (the event consumer) has
// just put a later license in place, the upsert waits for it and then does
// nothing, and a read inside the upsert's statement would still see the
// snapshot from before that write, an older license than lic.
func (s *Store) ApplyLicenseView(ctx context.Context, workspaceID string, lic domain.License) (domain.View, error) {
	if _, err := s.ApplyLicense(ctx, s.pool, workspaceID, lic); err != nil {
		return domain.View{}, err
	}
	return s.View(ctx, workspaceID)
}

// ApplyWithdrawal makes the view say removeLicense, under the same rule as
// ApplyLicense: only a higher sequence moves it (a withdrawal that arrives
// after a later license changes nothing). The license text stays, since the
// protocol always sends one; a view the withdrawal creates has none.
func (s *Store) ApplyWithdrawal(ctx context.Context, q pgdb.Querier, workspaceID string, w domain.Withdrawal) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO views (workspace_id, revision, license_sequence, remove_license)
		VALUES ($1, nextval('view_revision'), $2, true)
		ON CONFLICT (workspace_id) DO UPDATE SET
			revision = nextval('view_revision'), license_sequence = EXCLUDED.license_sequence, remove_license = true, updated_at = now()
		WHERE views.license_sequence < EXCLUDED.license_sequence`, workspaceID, w.Sequence)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}
