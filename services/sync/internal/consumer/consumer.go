// Package consumer applies the events sync listens to: every license the
// signer issues moves the workspace's view forward.
package consumer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

// Durable is the consumer's JetStream name.
const Durable = "sync"

// New returns sync's durable consumer of every license event, in one
// ordered stream (licensing.license.>): license.issued moves the view to the
// license, license.withdrawn makes it say removeLicense. The inbox drops a
// redelivered message; the view's sequence rule drops the same license
// arriving again under another message id, or an older event arriving late.
func New(js jetstream.JetStream, pool *pgxpool.Pool, st *store.Store, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable:  Durable,
		Subjects: []string{events.SubjectLicenseAll},
	}, Handler(st), log)
}

// Handler applies one license event in the consumer's transaction.
func Handler(st *store.Store) events.Handler {
	return func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		switch msg.Subject {
		case events.SubjectLicenseIssued:
			var e eventsv1.LicenseIssued
			if err := proto.Unmarshal(msg.Data, &e); err != nil {
				return events.Poison(err)
			}
			lic := domain.License{Sequence: e.GetSequence(), Token: e.GetToken(), Address: e.GetAddress()}.Normalize()
			if err := lic.Validate(); err != nil {
				return events.Poison(err)
			}
			if err := domain.ValidateWorkspaceID(e.GetWorkspaceId()); err != nil {
				return events.Poison(err)
			}
			_, err := st.ApplyLicense(ctx, tx, e.GetWorkspaceId(), lic)
			return err
		case events.SubjectLicenseWithdrawn:
			var e eventsv1.LicenseWithdrawn
			if err := proto.Unmarshal(msg.Data, &e); err != nil {
				return events.Poison(err)
			}
			if e.GetSequence() <= 0 {
				return events.Poison(fmt.Errorf("withdrawal sequence %d is not positive", e.GetSequence()))
			}
			if err := domain.ValidateWorkspaceID(e.GetWorkspaceId()); err != nil {
				return events.Poison(err)
			}
			_, err := st.ApplyWithdrawal(ctx, tx, e.GetWorkspaceId(), domain.Withdrawal{Sequence: e.GetSequence()})
			return err
		}
		// A license event this version does not know: nothing to apply.
		return nil
	}
}
