// Package consumer applies the events sync listens to: every license the
// signer issues moves the workspace's view forward.
package consumer

import (
	"context"
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

// New returns sync's durable consumer. The inbox drops a redelivered message;
// the view's sequence rule drops the same license arriving again under
// another message id, or an older one arriving late.
func New(js jetstream.JetStream, pool *pgxpool.Pool, st *store.Store, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable:  Durable,
		Subjects: []string{events.SubjectLicenseIssued},
	}, func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
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
	}, log)
}
