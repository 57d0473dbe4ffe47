package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// The change feed (view_changes, written by a trigger on views; see the
// migration for why revisions are numbered after commit by one sequencer).

// headQuery is the highest revision handed out: the feed's highest, or, when
// pruning emptied the feed, the highest pruned.
const headQuery = `SELECT GREATEST(COALESCE((SELECT max(revision) FROM view_changes), 0),
		(SELECT revision FROM view_changes_floor))`

// NumberChanges gives the next revisions, in id order, to at most limit
// committed changes that have none, and returns how many it numbered and the
// head afterwards. Only the sequencer calls it (under its advisory lock); the
// unique revision makes a second caller fail instead of reusing numbers.
func (s *Store) NumberChanges(ctx context.Context, q pgdb.Querier, limit int) (int, int64, error) {
	var n int
	var head int64
	err := q.QueryRow(ctx, `WITH top AS (`+headQuery+` AS top),
		todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM view_changes
			WHERE revision IS NULL ORDER BY id LIMIT $1),
		upd AS (UPDATE view_changes c SET revision = top.top + todo.n FROM todo, top
			WHERE c.id = todo.id RETURNING c.revision)
		SELECT count(*), COALESCE(max(revision), (SELECT top FROM top)) FROM upd`, limit).Scan(&n, &head)
	return n, head, err
}

// Head returns the highest revision handed out.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var head int64
	err := s.pool.QueryRow(ctx, headQuery).Scan(&head)
	return head, err
}

// Floor returns the highest pruned revision: the feed can be resumed from it
// or later, not from earlier.
func (s *Store) Floor(ctx context.Context) (int64, error) {
	var floor int64
	err := s.pool.QueryRow(ctx, `SELECT revision FROM view_changes_floor`).Scan(&floor)
	return floor, err
}

const changeColumns = `id, revision, workspace_id, view_revision, license_sequence, license, license_address,
	remove_license, updated_at, last_synced_at`

// ChangesAfter returns the numbered changes after revision after, at most
// limit, in revision order.
func (s *Store) ChangesAfter(ctx context.Context, after int64, limit int) ([]domain.Change, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+changeColumns+` FROM view_changes
		WHERE revision > $1 ORDER BY revision LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) {
		var c domain.Change
		v := &c.View
		err := row.Scan(&c.ID, &c.Revision, &v.WorkspaceID, &v.Revision, &v.LicenseSequence, &v.License,
			&v.LicenseAddress, &v.RemoveLicense, &v.UpdatedAt, &v.LastSyncedAt)
		return c, err
	})
}

// Snapshot lists the views (all of them, or those of workspaceIDs when it is
// not empty) at one instant with the feed's head and the changes not yet
// numbered at that instant, in one repeatable-read transaction so the three
// agree. A view's license is read only when needLicense says so: a watcher
// starting while thousands of others do needs no license the hub has already
// encoded, and reading it again would cost a copy per watcher. needLicense
// is given the snapshot's revision and each view (without its license) with
// its index in Views, in order; a retried transaction calls it again from 0.
func (s *Store) Snapshot(ctx context.Context, workspaceIDs []string, needLicense func(revision int64, i int, v *domain.View) bool) (domain.Snapshot, error) {
	var snap domain.Snapshot
	err := pgdb.InTxOptions(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		snap = domain.Snapshot{}
		var pending []int64
		if err := tx.QueryRow(ctx, headQuery+`, ARRAY(SELECT id FROM view_changes WHERE revision IS NULL)`).
			Scan(&snap.Revision, &pending); err != nil {
			return err
		}
		if len(pending) > 0 {
			snap.Pending = make(map[int64]bool, len(pending))
			for _, id := range pending {
				snap.Pending[id] = true
			}
		}
		const columns = `workspace_id, revision, license_sequence, license_address, remove_license, updated_at, last_synced_at`
		var rows pgx.Rows
		var err error
		if len(workspaceIDs) > 0 {
			rows, err = tx.Query(ctx, `SELECT `+columns+` FROM views WHERE workspace_id = ANY($1) ORDER BY workspace_id`, workspaceIDs)
		} else {
			rows, err = tx.Query(ctx, `SELECT `+columns+` FROM views ORDER BY workspace_id`)
		}
		if err != nil {
			return err
		}
		snap.Views, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (v domain.View, err error) {
			err = row.Scan(&v.WorkspaceID, &v.Revision, &v.LicenseSequence, &v.LicenseAddress, &v.RemoveLicense, &v.UpdatedAt, &v.LastSyncedAt)
			return v, err
		})
		if err != nil {
			return err
		}
		var need []string
		var at map[string]int // index in Views of each view whose license is read
		for i := range snap.Views {
			if needLicense(snap.Revision, i, &snap.Views[i]) {
				if at == nil {
					at = map[string]int{}
				}
				need = append(need, snap.Views[i].WorkspaceID)
				at[snap.Views[i].WorkspaceID] = i
			}
		}
		if len(need) == 0 {
			return nil
		}
		// The same snapshot as the list: each license read is the one of the
		// sequence listed.
		rows, err = tx.Query(ctx, `SELECT workspace_id, license FROM views WHERE workspace_id = ANY($1)`, need)
		if err != nil {
			return err
		}
		var id, license string
		_, err = pgx.ForEachRow(rows, []any{&id, &license}, func() error {
			snap.Views[at[id]].License = license
			return nil
		})
		return err
	})
	return snap, err
}

// PruneChanges deletes the numbered changes older than keep and raises the
// floor to the highest revision deleted; it reports whether it deleted any.
func (s *Store) PruneChanges(ctx context.Context, q pgdb.Querier, keep time.Duration) (bool, error) {
	tag, err := q.Exec(ctx, `WITH d AS (
			DELETE FROM view_changes WHERE revision IS NOT NULL AND created_at < now() - $1::interval RETURNING revision)
		UPDATE view_changes_floor SET revision = GREATEST(revision, (SELECT max(revision) FROM d))
		WHERE EXISTS (SELECT FROM d)`, keep)
	return tag.RowsAffected() > 0, err
}
