package events_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

func TestMain(m *testing.M) {
	// As telemetry.Setup does in every service: trace context travels in
	// W3C headers.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

// effectsSource is the consuming service's own state: applications counts every
// time a handler's transaction committed, effects holds idempotent results.
var effectsSource = pgdb.Source{Name: "test", FS: fstest.MapFS{"0001_effects.sql": {Data: []byte(`
	CREATE TABLE applications (msg_id text NOT NULL, subject text NOT NULL, data text NOT NULL);
	CREATE TABLE effects (key text PRIMARY KEY);`)}}}

type env struct {
	pool *pgxpool.Pool
	js   jetstream.JetStream
	logs *testenv.LogSink
}

// newEnv gives t a fresh database migrated with the inbox, an embedded NATS
// server and the licensing stream on it.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	url := testenv.NewDatabase(t)
	pool, err := pgdb.Open(ctx, url, "consumer", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "consumer", pgdb.Source{Name: "inbox", FS: events.InboxMigrations()}, effectsSource); err != nil {
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
	return &env{pool: pool, js: js, logs: testenv.NewLogSink(t)}
}

// run starts a consumer and stops it (waiting for it) when t ends.
func (e *env) run(t *testing.T, cfg events.ConsumerConfig, h events.Handler) {
	t.Helper()
	c := events.NewConsumer(e.js, e.pool, cfg, h, e.logs.Logger())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer %s: %v", cfg.Durable, err)
		}
	})
}

// publish stores one message in the stream; id, when set, is its Nats-Msg-Id.
func (e *env) publish(t *testing.T, subject, id, data string, header nats.Header) *jetstream.PubAck {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = []byte(data)
	for k, vs := range header {
		for _, v := range vs {
			msg.Header.Add(k, v)
		}
	}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	ack, err := e.js.PublishMsg(t.Context(), msg, opts...)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

// settled waits until durable has acknowledged (or terminated) every message
// of the stream up to lastSeq and holds none in flight.
func (e *env) settled(t *testing.T, durable string, lastSeq uint64) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	eventually(t, fmt.Sprintf("consumer %s to settle at stream sequence %d", durable, lastSeq), func() bool {
		c, err := e.js.Consumer(t.Context(), events.DefaultStream, durable)
		if err != nil {
			return false
		}
		info, err = c.Info(t.Context())
		return err == nil && info.AckFloor.Stream >= lastSeq && info.NumAckPending == 0 && info.NumPending == 0
	})
	return info
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond)
}
