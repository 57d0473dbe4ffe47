// Package harness gives the sync service's tests their real infrastructure:
// a migrated sync schema in a fresh Postgres database, an embedded NATS
// server with the licensing stream, the service's background loops, and
// polling helpers. Only tests import it.
package harness

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

// Schema is the service's schema, as app.Start names it.
const Schema = "sync"

// Logger writes to the test's output, so a failing test shows its logs.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Database returns a pool on a fresh database with the sync schema migrated
// exactly as the service migrates it at start-up.
func Database(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), Schema, 20)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, Schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		pgdb.Source{Name: Schema, FS: store.Migrations()},
	); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// JetStream starts an embedded NATS server and declares the licensing stream.
func JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv := testenv.StartNATS(t)
	nc, err := events.Connect(srv.URL, t.Name())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := events.EnsureStream(context.Background(), js, events.StreamConfig{}); err != nil {
		t.Fatalf("declare stream: %v", err)
	}
	return js
}

// Go runs loop until the test ends and waits for it to return before the
// cleanups registered earlier (the pool, the servers) run.
func Go(t testing.TB, loop func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("background loop: %v", err)
		}
	})
}

// Eventually polls cond until it holds, failing the test after a deadline.
func Eventually(t testing.TB, what string, cond func() (bool, error)) {
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
