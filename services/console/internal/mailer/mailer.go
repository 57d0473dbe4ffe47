// Package mailer sends the console's queued e-mails through the shared SMTP
// sender. Mails are queued in the transaction of the change they announce
// (a sign-up, a reset request, an invitation), so none is lost to a crash;
// any number of console replicas may run the loop, each mail going out once
// (a crash between the server's acceptance and the commit repeats it with
// the same Message-ID).
package mailer

import (
	"context"
	"log/slog"
	"time"

	"github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/services/console/internal/store"
)

// Loop sends due mails until ctx ends: at once when wake fires (this
// process queued one), else every interval (another replica's mail, or a
// retry coming due).
func Loop(st *store.Store, sender mail.Sender, log *slog.Logger, wake <-chan struct{}, interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			for {
				due, err := st.SendNextMail(ctx, func(m mail.Message) error {
					err := sender.Send(ctx, m)
					if err != nil {
						log.WarnContext(ctx, "mail not sent; will retry", "message_id", m.ID, "error", err)
					}
					return err
				})
				if err != nil && ctx.Err() == nil {
					log.ErrorContext(ctx, "mail queue", "error", err)
				}
				if !due || err != nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
			case <-t.C:
			}
		}
	}
}
