package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

const announcementColumns = `id, idempotency_key, target, plan_ids, workspace_ids, dictionary::text, ui_view::text, surface,
	platforms, roles, start_at, expire_at, created_by, created_at, updated_at, withdrawn_at`

func scanAnnouncement(row pgx.Row) (domain.Announcement, error) {
	var a domain.Announcement
	var target string
	err := row.Scan(&a.ID, &a.IdempotencyKey, &target, &a.PlanIDs, &a.WorkspaceIDs, &a.Dictionary, &a.View, &a.Surface,
		&a.Platforms, &a.Roles, &a.StartAt, &a.ExpireAt, &a.CreatedBy, &a.CreatedAt, &a.UpdatedAt, &a.WithdrawnAt)
	if pgdb.IsNoRows(err) {
		return a, domain.ErrAnnouncementNotFound
	}
	a.Target = domain.Target(target)
	return a, err
}

func collectAnnouncements(rows pgx.Rows, err error) ([]domain.Announcement, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Announcement
	for rows.Next() {
		a, err := scanAnnouncement(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// newAnnouncementID is a workspace-style "_id": 24 hex characters.
func newAnnouncementID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CreateAnnouncement stores a (validated) announcement. A second create with
// the same idempotency key returns the stored announcement when it asks for
// the same, and domain.ErrIdempotencyKeyReused when not.
func (s *Store) CreateAnnouncement(ctx context.Context, a domain.Announcement) (domain.Announcement, error) {
	id, err := newAnnouncementID()
	if err != nil {
		return a, err
	}
	created, err := scanAnnouncement(s.pool.QueryRow(ctx, `INSERT INTO announcements
		(id, idempotency_key, target, plan_ids, workspace_ids, dictionary, ui_view, surface, platforms, roles, start_at, expire_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+announcementColumns,
		id, a.IdempotencyKey, string(a.Target), a.PlanIDs, a.WorkspaceIDs, a.Dictionary, a.View, a.Surface, a.Platforms,
		a.Roles, a.StartAt, a.ExpireAt, a.CreatedBy))
	if !errors.Is(err, domain.ErrAnnouncementNotFound) {
		return created, err
	}
	stored, err := scanAnnouncement(s.pool.QueryRow(ctx, `SELECT `+announcementColumns+` FROM announcements WHERE idempotency_key = $1`, a.IdempotencyKey))
	if err != nil {
		return stored, err
	}
	if !stored.SameRequest(a) {
		return stored, domain.ErrIdempotencyKeyReused
	}
	return stored, nil
}

// WithdrawAnnouncement marks an announcement withdrawn (once: a second
// withdrawal keeps the first time) and returns it.
func (s *Store) WithdrawAnnouncement(ctx context.Context, id string) (domain.Announcement, error) {
	return scanAnnouncement(s.pool.QueryRow(ctx, `WITH w AS (
			UPDATE announcements SET withdrawn_at = now(), updated_at = now()
			WHERE id = $1 AND withdrawn_at IS NULL RETURNING `+announcementColumns+`
		)
		SELECT * FROM w UNION ALL
		SELECT `+announcementColumns+` FROM announcements WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM w)`, id))
}

// ListAnnouncements lists announcements newest first: only the live ones
// (neither withdrawn nor expired at now) unless all is set.
func (s *Store) ListAnnouncements(ctx context.Context, all bool, now time.Time, limit int) ([]domain.Announcement, error) {
	return collectAnnouncements(s.pool.Query(ctx, `SELECT `+announcementColumns+` FROM announcements
		WHERE $1 OR (withdrawn_at IS NULL AND expire_at > $2)
		ORDER BY created_at DESC, id DESC LIMIT $3`, all, now, limit))
}

// WorkspaceAnnouncements returns the unexpired announcements (live and
// withdrawn) targeted at a workspace on plan planID, oldest first.
func (s *Store) WorkspaceAnnouncements(ctx context.Context, workspaceID, planID string, now time.Time) ([]domain.Announcement, error) {
	return collectAnnouncements(s.pool.Query(ctx, `SELECT `+announcementColumns+` FROM announcements
		WHERE expire_at > $3 AND (target = 'all'
			OR (target = 'plans' AND $2 <> '' AND plan_ids @> ARRAY[$2])
			OR (target = 'workspaces' AND workspace_ids @> ARRAY[$1]))
		ORDER BY created_at, id`, workspaceID, planID, now))
}
