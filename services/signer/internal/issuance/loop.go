package issuance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// dueBatch is how many due subscriptions one pass reads at a time.
const dueBatch = 100

// IdempotencyRetention is how long the answer to a mutating call is kept
// for its retries.
const IdempotencyRetention = 30 * 24 * time.Hour

// ApplyDue falls back to the free plan every subscription whose trial or
// period has ended by the service's clock (see domain.Lapse): a trial at its
// end, a cancelled or not auto-renewing period at its end, an auto-renewing
// one once its grace has passed. Each gets its free license in its own
// transaction; one that changed meanwhile is left alone. It returns how many
// it moved.
func (s *Service) ApplyDue(ctx context.Context) (int, error) {
	applied := 0
	var errs []error
	for {
		ids, err := s.store.Due(ctx, s.Now(), dueBatch)
		if err != nil {
			return applied, err
		}
		moved := 0
		for _, id := range ids {
			// One workspace that cannot be moved (a plan gone missing) must
			// not hold up the others.
			ok, err := s.lapse(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return applied, ctx.Err()
				}
				errs = append(errs, fmt.Errorf("workspace %s: %w", id, err))
				continue
			}
			if ok {
				moved++
			}
		}
		applied += moved
		if len(ids) < dueBatch || moved == 0 {
			return applied, errors.Join(errs...)
		}
	}
}

func (s *Service) lapse(ctx context.Context, workspaceID string) (bool, error) {
	moved := false
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		moved = false
		snap, err := tx.Snapshot(ctx, "", workspaceID, nil)
		if err != nil || !snap.WorkspaceFound || !snap.SubscriptionFound {
			return err
		}
		m, err := s.moment(ctx, tx, snap, "")
		if err != nil {
			return err
		}
		_, changes, err := s.apply(ctx, tx, m, domain.Lapse{})
		if errors.Is(err, domain.ErrNothingDue) {
			return nil
		}
		if err != nil {
			return err
		}
		moved = true
		return tx.Write(ctx, changes)
	})
	return moved, err
}

// Loop runs ApplyDue every interval, and forgets idempotency records older
// than IdempotencyRetention. Several signer replicas may run it: each
// workspace is moved under its lock, and a moved one is no longer due.
type Loop struct {
	svc      *Service
	interval time.Duration
	log      *slog.Logger
}

// NewLoop returns the loop.
func NewLoop(svc *Service, interval time.Duration, log *slog.Logger) *Loop {
	return &Loop{svc: svc, interval: interval, log: log}
}

// Run loops until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		l.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (l *Loop) pass(ctx context.Context) {
	n, err := l.svc.ApplyDue(ctx)
	if err != nil && ctx.Err() == nil {
		l.log.ErrorContext(ctx, "apply due cancellations and expiries", "error", err)
	}
	if n > 0 {
		l.log.InfoContext(ctx, "subscriptions fell back to the free plan", "count", n)
	}
	if _, err := l.svc.store.ForgetKeysBefore(ctx, l.svc.Now().Add(-IdempotencyRetention), 1000); err != nil && ctx.Err() == nil {
		l.log.ErrorContext(ctx, "forget old idempotency records", "error", err)
	}
}
