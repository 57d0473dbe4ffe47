// Package consumer applies the events the registry listens to: the usage a
// workspace reports on sync (its version and address).
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
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

// New returns the registry's durable consumer.
func New(js jetstream.JetStream, pool *pgxpool.Pool, st *store.Store, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable:  "registry",
		Subjects: []string{events.SubjectWorkspaceSynced},
	}, func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var e eventsv1.WorkspaceSynced
		if err := proto.Unmarshal(msg.Data, &e); err != nil {
			return events.Poison(err)
		}
		return st.RecordSync(ctx, tx, &e)
	}, log)
}
