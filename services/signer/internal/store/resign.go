package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// ResignJob is a job re-issuing current licenses with the key TargetKID.
type ResignJob struct {
	ID, TargetKID, State, Cursor string
	Total, Visited, Resigned     int64
	CreatedAt, UpdatedAt         time.Time
}

const resignColumns = `id, target_kid, state, cursor, total, visited, resigned, created_at, updated_at`

func scanResign(row pgx.Row) (ResignJob, error) {
	var j ResignJob
	err := row.Scan(&j.ID, &j.TargetKID, &j.State, &j.Cursor, &j.Total, &j.Visited, &j.Resigned, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, domain.ErrResignJobNotFound
	}
	return j, err
}

// ResignJob returns one job.
func (s *Store) ResignJob(ctx context.Context, id string) (ResignJob, error) {
	return scanResign(s.pool.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE id = $1`, id))
}

// StartResignJob starts a job for targetKID, or returns the running one: at
// most one runs at a time. A running job for an older key is finished first,
// since the new one visits every workspace anyway.
func (t *Tx) StartResignJob(ctx context.Context, id, targetKID string) (ResignJob, error) {
	running, err := scanResign(t.q.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE state = 'running' FOR UPDATE`))
	switch {
	case err == nil && running.TargetKID == targetKID:
		return running, nil
	case err == nil:
		if _, err := t.q.Exec(ctx, `UPDATE resign_jobs SET state = 'done', updated_at = now() WHERE id = $1`, running.ID); err != nil {
			return ResignJob{}, err
		}
	case !errors.Is(err, domain.ErrResignJobNotFound):
		return ResignJob{}, err
	}
	return scanResign(t.q.QueryRow(ctx, `INSERT INTO resign_jobs (id, target_kid, state, total)
		SELECT $1, $2, 'running', count(*) FROM workspaces RETURNING `+resignColumns, id, targetKID))
}

// ClaimResignJob locks the running job for one batch; found is false when
// none runs or another replica holds it.
func (t *Tx) ClaimResignJob(ctx context.Context) (j ResignJob, found bool, err error) {
	j, err = scanResign(t.q.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE state = 'running' FOR UPDATE SKIP LOCKED`))
	if errors.Is(err, domain.ErrResignJobNotFound) {
		return j, false, nil
	}
	return j, err == nil, err
}

// WorkspacesAfter returns up to limit workspace ids after cursor, in order.
func (t *Tx) WorkspacesAfter(ctx context.Context, cursor string, limit int) ([]string, error) {
	rows, err := t.q.Query(ctx, `SELECT workspace_id FROM workspaces WHERE workspace_id > $1 ORDER BY workspace_id LIMIT $2`, cursor, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AdvanceResignJob records a batch's progress; done ends the job.
func (t *Tx) AdvanceResignJob(ctx context.Context, id, cursor string, visited, resigned int64, done bool) error {
	state := "running"
	if done {
		state = "done"
	}
	_, err := t.q.Exec(ctx, `UPDATE resign_jobs SET cursor = $2, visited = visited + $3, resigned = resigned + $4,
		state = $5, updated_at = now() WHERE id = $1`, id, cursor, visited, resigned, state)
	return err
}
