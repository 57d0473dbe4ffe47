package consumer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/consumer"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

const schema = "registry"

func setup(t *testing.T) (*store.Store, *pgxpool.Pool, jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		pgdb.Source{Name: schema, FS: store.Migrations()},
	); err != nil {
		t.Fatal(err)
	}

	srv := testenv.StartNATS(t)
	nc, err := events.Connect(srv.URL, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return store.New(pool), pool, js
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		<-tick.C
	}
}

func publish(t *testing.T, js jetstream.JetStream, msgID string, data []byte) {
	t.Helper()
	msg := &nats.Msg{Subject: events.SubjectWorkspaceSynced, Data: data, Header: nats.Header{}}
	if _, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatalf("publish %s: %v", msgID, err)
	}
}

func synced(t *testing.T, ws, version string, at time.Time) []byte {
	t.Helper()
	b, err := proto.Marshal(&eventsv1.WorkspaceSynced{WorkspaceId: ws, UniqueId: "u-1", Address: "chat.example.com", Version: version, SyncedAt: timestamppb.New(at)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The consumer applies workspace.synced in order of the reports, not of the
// messages: a report older than the stored one (events reordered) changes
// nothing, and a poison message is set aside without blocking the rest.
func TestConsumerKeepsNewestReport(t *testing.T) {
	t.Parallel()
	st, pool, js := setup(t)
	ctx := t.Context()
	c, err := st.CreateCustomer(ctx, "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ws-1", "ws-2"} {
		if _, err := st.CreateRegisteredWorkspace(ctx, domain.Workspace{ID: id, CustomerID: c.ID}); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1}))
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.New(js, pool, st, log).Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})

	now := time.Now().UTC().Truncate(time.Microsecond)
	publish(t, js, "m1", synced(t, "ws-1", "7.2.0", now))
	publish(t, js, "m2", synced(t, "ws-1", "7.1.0", now.Add(-time.Hour))) // older, arrives later
	publish(t, js, "m3", []byte("not a protobuf \xff\xff\xff"))
	publish(t, js, "m4", synced(t, "ws-2", "7.0.0", now))

	eventually(t, "every message handled", func() (bool, error) {
		w, err := st.Workspace(ctx, "ws-2")
		if err != nil || w.Version != "7.0.0" {
			return false, err
		}
		cons, err := js.Consumer(ctx, events.DefaultStream, "registry")
		if err != nil {
			return false, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err
		}
		return info.NumPending == 0 && info.NumAckPending == 0, nil
	})
	w, err := st.Workspace(ctx, "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	if w.Version != "7.2.0" || w.LastSyncedAt == nil || !w.LastSyncedAt.Equal(now) {
		t.Fatalf("ws-1 version %q synced %v; want the newer report 7.2.0 at %v", w.Version, w.LastSyncedAt, now)
	}
	var inbox int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM inbox`).Scan(&inbox); err != nil || inbox != 3 {
		t.Fatalf("inbox holds %d messages (%v), want the 3 valid ones", inbox, err)
	}
}
