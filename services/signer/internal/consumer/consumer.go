// Package consumer applies the events the signer listens to: a registered
// workspace gets its first license without waiting for its first sync.
package consumer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/validate"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Durable is the consumer's JetStream name.
const Durable = "signer"

// New returns the signer's durable consumer.
func New(js jetstream.JetStream, pool *pgxpool.Pool, iss *issuance.Service, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable:  Durable,
		Subjects: []string{events.SubjectWorkspaceRegistered},
	}, Handler(iss), log)
}

// Handler applies workspace.registered in the consumer's transaction. It
// never calls the registry: the event carries everything the license needs.
func Handler(iss *issuance.Service) events.Handler {
	return func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var e eventsv1.WorkspaceRegistered
		if err := proto.Unmarshal(msg.Data, &e); err != nil {
			return events.Poison(err)
		}
		w := domain.Workspace{ID: e.GetWorkspaceId(), CustomerID: e.GetCustomerId(), InitialPlanID: e.GetPlanId(), ClientName: e.GetClientName()}
		if e.GetRegisteredAt() != nil {
			w.RegisteredAt = e.GetRegisteredAt().AsTime()
		}
		err := iss.Registered(ctx, store.WithTx(tx), w)
		// Neither a bad workspace id nor a plan the signer does not have
		// changes on redelivery; they need a person, not a retry loop.
		if errors.Is(err, validate.ErrInvalid) || errors.Is(err, domain.ErrPlanNotFound) {
			return events.Poison(err)
		}
		return err
	}
}
