package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/cloudlicense/authority/services/registry/internal/store"
)

// Janitor erases, every interval, the client secrets held by intents that
// expired without being polled for again, so no secret outlives its intent.
func Janitor(st *store.Store, log *slog.Logger, every time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if n, err := st.EraseExpiredSecrets(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "erase expired intent secrets", "error", err)
			} else if n > 0 {
				log.InfoContext(ctx, "erased expired intent secrets", "count", n)
			}
		}
	}
}
