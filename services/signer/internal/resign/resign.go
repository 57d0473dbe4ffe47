// Package resign runs the jobs that re-issue current licenses with the
// active license key after a rotation.
package resign

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Reissuer re-issues a workspace's current license with the active key,
// inside tx, when it was signed by another key; it reports whether it did.
type Reissuer interface {
	Resign(ctx context.Context, tx *store.Tx, workspaceID string) (bool, error)
}

// Resigner runs re-sign jobs: each batch of workspaces is visited in one
// transaction that also advances the job's cursor, so a job stopped by a
// crash or a restart goes on after the last batch that committed, and a
// workspace visited twice is not re-issued twice (its license then carries
// the active key already). Any number of replicas may run it: a batch locks
// the job row.
type Resigner struct {
	store    *store.Store
	keys     keys.Manager
	reissuer Reissuer
	batch    int
	interval time.Duration
	log      *slog.Logger
}

// New returns the job runner; it looks for a running job every interval
// and visits batch workspaces per transaction.
func New(st *store.Store, km keys.Manager, r Reissuer, batch int, interval time.Duration, log *slog.Logger) *Resigner {
	return &Resigner{store: st, keys: km, reissuer: r, batch: batch, interval: interval, log: log}
}

// Start starts a job re-signing with the active key, or returns the job
// already doing so.
func (r *Resigner) Start(ctx context.Context) (store.ResignJob, error) {
	active, err := r.keys.Active(ctx)
	if err != nil {
		return store.ResignJob{}, err
	}
	var j store.ResignJob
	err = r.store.InTx(ctx, func(tx *store.Tx) error {
		j, err = tx.StartResignJob(ctx, "rsj_"+domain.NewLicenseID()[4:], active.ID)
		return err
	})
	return j, err
}

// Run works through running jobs until ctx ends.
func (r *Resigner) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		for {
			more, err := r.Step(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "re-sign batch failed; will retry", "error", err)
			}
			if !more || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step visits one batch of the running job; more says whether a job is
// still running afterwards.
func (r *Resigner) Step(ctx context.Context) (more bool, err error) {
	err = r.store.InTx(ctx, func(tx *store.Tx) error {
		more = false
		j, found, err := tx.ClaimResignJob(ctx)
		if err != nil || !found {
			return err
		}
		ids, err := tx.WorkspacesAfter(ctx, j.Cursor, r.batch)
		if err != nil {
			return err
		}
		var resigned int64
		for _, id := range ids {
			did, err := r.reissuer.Resign(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("re-sign workspace %s: %w", id, err)
			}
			if did {
				resigned++
			}
		}
		cursor, done := j.Cursor, len(ids) < r.batch
		if len(ids) > 0 {
			cursor = ids[len(ids)-1]
		}
		more = !done
		return tx.AdvanceResignJob(ctx, j.ID, cursor, int64(len(ids)), resigned, done)
	})
	return more, err
}
