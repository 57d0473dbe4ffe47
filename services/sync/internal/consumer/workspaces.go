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
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

// WorkspacesDurable is the JetStream name of the consumer of workspace
// lifecycle events.
const WorkspacesDurable = "sync-workspaces"

// NewWorkspaces returns sync's durable consumer of workspace lifecycle
// events: a deregistered workspace's view says removeLicense for good. It is
// a consumer of its own, apart from the license one, so a backlog of one
// never holds up the other.
func NewWorkspaces(js jetstream.JetStream, pool *pgxpool.Pool, st *store.Store, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable:  WorkspacesDurable,
		Subjects: []string{events.SubjectWorkspaceDeregistered},
	}, func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var e eventsv1.WorkspaceDeregistered
		if err := proto.Unmarshal(msg.Data, &e); err != nil {
			return events.Poison(err)
		}
		if err := domain.ValidateWorkspaceID(e.GetWorkspaceId()); err != nil {
			return events.Poison(err)
		}
		if e.GetDeregisteredAt() == nil {
			return events.Poison(errors.New("workspace.deregistered without deregistered_at"))
		}
		_, err := st.MarkDeregistered(ctx, tx, e.GetWorkspaceId(), e.GetDeregisteredAt().AsTime())
		return err
	}, log)
}
