package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

func TestMain(m *testing.M) {
	// As telemetry.Setup does in every service: trace context travels in
	// W3C headers.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

const schema = "svc"

// The service's own tables: orders change in the same transactions that
// write events; applied is what its consumer does with each event (no key,
// so a second application shows as a second row).
var testSource = pgdb.Source{Name: "test", FS: fstest.MapFS{"0001_tables.sql": {Data: []byte(`
	CREATE TABLE orders (id text PRIMARY KEY);
	CREATE TABLE applied (key text NOT NULL, msg_id text NOT NULL, subject text NOT NULL);`)}}}

type env struct {
	pool   *pgxpool.Pool
	nats   *testenv.NATS
	js     jetstream.JetStream
	stream jetstream.Stream
	logs   *testenv.LogSink
}

// newEnv gives t a fresh database whose schema has the outbox, the inbox and
// the test tables, an embedded NATS server and the licensing stream.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		testSource); err != nil {
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
	stream, err := events.EnsureStream(ctx, js, events.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, nats: srv, js: js, stream: stream, logs: testenv.NewLogSink(t)}
}

// background runs fn until t ends, then stops it and waits for it.
func background(t *testing.T, name string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

func (e *env) runRelay(t *testing.T) {
	t.Helper()
	background(t, "relay", outbox.NewRelay(e.pool, schema, e.js, e.logs.Logger()).Run)
}

// runConsumer applies every licensing event by adding a row to applied.
func (e *env) runConsumer(t *testing.T, durable string) {
	t.Helper()
	c := events.NewConsumer(e.js, e.pool, events.ConsumerConfig{Durable: durable, Subjects: []string{"licensing.>"}},
		func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			_, err := tx.Exec(ctx, "INSERT INTO applied (key, msg_id, subject) VALUES ($1, $2, $3)", string(msg.Data), msg.ID, msg.Subject)
			return err
		}, e.logs.Logger())
	background(t, "consumer "+durable, c.Run)
}

// order commits an order with one event per key in one transaction, or
// rolls it all back.
func (e *env) order(ctx context.Context, id string, keys []string, commit bool) error {
	err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO orders (id) VALUES ($1)", id); err != nil {
			return err
		}
		for i, k := range keys {
			if err := outbox.Write(ctx, tx, events.Event{
				Subject: events.SubjectLicenseIssued, AggregateID: id, Sequence: int64(i + 1), Payload: []byte(k),
			}); err != nil {
				return err
			}
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if !commit && errors.Is(err, errRollback) {
		return nil
	}
	return err
}

var errRollback = errors.New("roll back on purpose")

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) strings(t *testing.T, sql string) []string {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func (e *env) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	info, err := e.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// settled waits until durable has acknowledged every message the stream
// holds, and the stream holds at least want messages.
func (e *env) settled(t *testing.T, durable string, want uint64, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, fmt.Sprintf("%s to apply %d messages", durable, want), func() bool {
		s, err := e.stream.Info(t.Context())
		if err != nil || s.State.Msgs < want {
			return false
		}
		c, err := e.js.Consumer(t.Context(), events.DefaultStream, durable)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == s.State.LastSeq && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond)
}
