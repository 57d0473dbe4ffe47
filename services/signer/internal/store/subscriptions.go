package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const subscriptionColumns = `workspace_id, plan_id, plan_version, seats, limits, status, period_start, period_end, address,
	auto_renew, cancel_at_period_end, grant_method, seller, suspended_status, suspend_reason, lapses_at, updated_at`

func scanSubscription(row pgx.Row) (domain.Subscription, error) {
	var s domain.Subscription
	var limits []byte
	err := row.Scan(&s.WorkspaceID, &s.PlanID, &s.PlanVersion, &s.Seats, &limits, &s.Status, &s.PeriodStart, &s.PeriodEnd, &s.Address,
		&s.AutoRenew, &s.CancelAtPeriodEnd, &s.GrantMethod, &s.Seller, &s.SuspendedStatus, &s.SuspendReason, &s.LapsesAt, &s.UpdatedAt)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(limits, &s.Limits); err != nil {
		return s, fmt.Errorf("subscription %s limits: %w", s.WorkspaceID, err)
	}
	return s, nil
}

func subscription(ctx context.Context, q pgdb.Querier, workspaceID string) (sub domain.Subscription, found bool, err error) {
	sub, err = scanSubscription(q.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE workspace_id = $1`, workspaceID))
	if pgdb.IsNoRows(err) {
		return sub, false, nil
	}
	return sub, err == nil, err
}

// Subscription returns the workspace's subscription; found is false when it
// has none yet.
func (t *Tx) Subscription(ctx context.Context, workspaceID string) (domain.Subscription, bool, error) {
	return subscription(ctx, t.q, workspaceID)
}

// Subscription reads a workspace's subscription outside a transaction.
func (s *Store) Subscription(ctx context.Context, workspaceID string) (domain.Subscription, bool, error) {
	return subscription(ctx, s.pool, workspaceID)
}

// CreateSubscription stores a new subscription.
func (t *Tx) CreateSubscription(ctx context.Context, s domain.Subscription) error {
	return t.saveSubscription(ctx, s)
}

func (t *Tx) saveSubscription(ctx context.Context, s domain.Subscription) error {
	limits, err := json.Marshal(s.Limits)
	if err != nil {
		return err
	}
	updated := s.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	s.UpdatedAt = updated
	_, err = t.q.Exec(ctx, upsertSubscription, subscriptionArgs(s, limits)...)
	return err
}

const upsertSubscription = `INSERT INTO subscriptions (` + subscriptionColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	ON CONFLICT (workspace_id) DO UPDATE SET plan_id = EXCLUDED.plan_id, plan_version = EXCLUDED.plan_version,
		seats = EXCLUDED.seats, limits = EXCLUDED.limits, status = EXCLUDED.status, period_start = EXCLUDED.period_start,
		period_end = EXCLUDED.period_end, address = EXCLUDED.address, auto_renew = EXCLUDED.auto_renew,
		cancel_at_period_end = EXCLUDED.cancel_at_period_end, grant_method = EXCLUDED.grant_method, seller = EXCLUDED.seller,
		suspended_status = EXCLUDED.suspended_status, suspend_reason = EXCLUDED.suspend_reason,
		lapses_at = EXCLUDED.lapses_at, updated_at = EXCLUDED.updated_at`

func subscriptionArgs(s domain.Subscription, limits []byte) []any {
	updated := s.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	return []any{s.WorkspaceID, s.PlanID, s.PlanVersion, s.Seats, limits, s.Status, s.PeriodStart, s.PeriodEnd, s.Address,
		s.AutoRenew, s.CancelAtPeriodEnd, s.GrantMethod, s.Seller, s.SuspendedStatus, s.SuspendReason, s.LapsesAt, updated}
}

// Due returns up to limit workspaces whose subscription lapses at or before
// now (see domain.Lapse), the longest overdue first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT workspace_id FROM subscriptions
		WHERE lapses_at IS NOT NULL AND status <> 'suspended' AND lapses_at <= $1 ORDER BY lapses_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
