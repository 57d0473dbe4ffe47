package outbox

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

func outboxPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), testenv.NewDatabase(t), "svc", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(t.Context(), pool, "svc", pgdb.Source{Name: "outbox", FS: Migrations()}); err != nil {
		t.Fatal(err)
	}
	return pool
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestCleanupDeletesOnlyOldPublishedRows(t *testing.T) {
	t.Parallel()
	pool := outboxPool(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (subject, payload, created_at, published_at) VALUES
		('old.published', '', now() - interval '3 hours', now() - interval '2 hours'),
		('recent.published', '', now() - interval '3 hours', now() - interval '1 minute'),
		('old.unpublished', '', now() - interval '3 hours', NULL)`); err != nil {
		t.Fatal(err)
	}
	NewRelay(pool, "svc", nil, quiet).cleanup(ctx)
	rows, err := pool.Query(ctx, "SELECT subject FROM outbox ORDER BY subject")
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"old.unpublished", "recent.published"}; !slices.Equal(left, want) {
		t.Errorf("rows left = %v, want %v", left, want)
	}
}

// TestRelayPublishesInIDOrderAcrossBatches gives the relay more rows than a
// batch holds: it goes straight on to the next batch and keeps id order.
func TestRelayPublishesInIDOrderAcrossBatches(t *testing.T) {
	t.Parallel()
	pool := outboxPool(t)
	ctx := t.Context()
	for i := range 10 {
		if err := pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
			return Write(ctx, tx, events.Event{Subject: events.SubjectWorkspaceSynced, AggregateID: "w", Sequence: int64(i + 1), Payload: []byte{byte('0' + i)}})
		}); err != nil {
			t.Fatal(err)
		}
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
	stream, err := events.EnsureStream(ctx, js, events.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}

	r := NewRelay(pool, "svc", js, quiet)
	r.batch = 3
	// A long poll interval: only the go-straight-on path can publish all
	// ten rows within the test's deadline.
	r.PollInterval = time.Hour
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want 10", info.State.Msgs)
		}
		<-tick.C
	}
	rows, err := pool.Query(ctx, "SELECT event_id::text FROM outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(1); seq <= 10; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msg.Header.Get(jetstream.MsgIDHeader))
	}
	if !slices.Equal(got, want) {
		t.Errorf("stream order %v, want outbox id order %v", got, want)
	}
}
