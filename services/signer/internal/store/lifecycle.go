package store

import (
	"context"
	"time"

	"github.com/cloudlicense/authority/pkg/pgdb"
)

// LockKey serialises the calls that carry one idempotency key until the
// transaction ends. Callers take it before LockWorkspace, always in that
// order.
func (t *Tx) LockKey(ctx context.Context, key string) error {
	_, err := t.q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("idempotency:"+key))
	return err
}

// Remembered returns what a call with key answered, if one did.
func (t *Tx) Remembered(ctx context.Context, key string) (method string, hash, response []byte, found bool, err error) {
	err = t.q.QueryRow(ctx, `SELECT method, request_hash, response FROM idempotency_keys WHERE key = $1`, key).Scan(&method, &hash, &response)
	if pgdb.IsNoRows(err) {
		return "", nil, nil, false, nil
	}
	return method, hash, response, err == nil, err
}

// Remember records the answer of a call with key.
func (t *Tx) Remember(ctx context.Context, key, method string, hash, response []byte) error {
	_, err := t.q.Exec(ctx, `INSERT INTO idempotency_keys (key, method, request_hash, response) VALUES ($1, $2, $3, $4)`,
		key, method, hash, response)
	return err
}

// ForgetKeysBefore removes up to limit idempotency records older than t.
func (s *Store) ForgetKeysBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key IN (
		SELECT key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, before, limit)
	return tag.RowsAffected(), err
}

// LastSequence returns the workspace's newest license or withdrawal
// sequence (0 before any). Hold LockWorkspace to use it for the next one.
func (t *Tx) LastSequence(ctx context.Context, workspaceID string) (int64, error) {
	return lastSequence(ctx, t.q, workspaceID)
}

// LastSequence reads the newest license or withdrawal sequence outside a
// transaction.
func (s *Store) LastSequence(ctx context.Context, workspaceID string) (int64, error) {
	return lastSequence(ctx, s.pool, workspaceID)
}

const lastSequenceQuery = `SELECT GREATEST(
	(SELECT coalesce(max(sequence), 0) FROM licenses WHERE workspace_id = $1),
	(SELECT coalesce(max(sequence), 0) FROM license_withdrawals WHERE workspace_id = $1))`

func lastSequence(ctx context.Context, q pgdb.Querier, workspaceID string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, lastSequenceQuery, workspaceID).Scan(&n)
	return n, err
}

// TrialUsed reports whether the workspace ever started a trial of plan.
func (t *Tx) TrialUsed(ctx context.Context, workspaceID, planID string) (bool, error) {
	var used bool
	err := t.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM trials WHERE workspace_id = $1 AND plan_id = $2)`, workspaceID, planID).Scan(&used)
	return used, err
}
