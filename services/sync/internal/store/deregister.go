package store

import (
	"context"
	"time"

	"github.com/cloudlicense/authority/pkg/pgdb"
)

// MarkDeregistered makes a workspace's view say removeLicense for good. It is
// monotonic and idempotent: the first deregistration time stays, a repeat
// changes nothing (and takes no revision), and a view that does not exist
// yet (the deregistration consumed before the first license) is created
// already removed, so the license that arrives later cannot bring it back.
// It reports whether the view changed.
func (s *Store) MarkDeregistered(ctx context.Context, q pgdb.Querier, workspaceID string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO views (workspace_id, remove_license, deregistered_at) VALUES ($1, true, $2)
		ON CONFLICT (workspace_id) DO UPDATE SET
			revision = nextval('view_revision'), remove_license = true,
			deregistered_at = EXCLUDED.deregistered_at, updated_at = now()
		WHERE views.deregistered_at IS NULL`, workspaceID, at)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}
