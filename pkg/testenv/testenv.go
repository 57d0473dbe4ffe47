// Package testenv gives tests real infrastructure: a fresh Postgres database
// per test on the server DATABASE_URL names (the test command starts one when
// none answers), and a real NATS server with JetStream embedded in the test
// process on a random port, which a test can stop and restart.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
)

// TB is the part of testing.TB the helpers need, so programs that are not
// tests (the local stack, the benchmark) can use them too.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// DefaultDatabaseURL is used when DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the URL of the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// NewDatabase creates an empty database for t and drops it when t ends. It
// returns the database's URL.
func NewDatabase(t TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: connect to Postgres at DATABASE_URL (run the tests through `make test`, which starts one): %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NATS is an embedded NATS server with JetStream.
type NATS struct {
	URL  string
	opts *server.Options
	srv  *server.Server
}

// StartNATS starts a NATS server with JetStream on a random loopback port,
// storing under a temporary folder, and shuts it down when t ends.
func StartNATS(t TB) *NATS {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	n := &NATS{opts: opts}
	n.start(t)
	n.URL = n.srv.ClientURL()
	// A restart must come back on the same address, as a real server would.
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Stop)
	return n
}

func (n *NATS) start(t TB) {
	t.Helper()
	srv, err := server.NewServer(n.opts)
	if err != nil {
		t.Fatalf("testenv: nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("testenv: nats server not ready")
	}
	n.srv = srv
}

// Stop shuts the server down (clients see a disconnect and keep retrying).
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Restart starts the server again on the same port with the same store.
func (n *NATS) Restart(t TB) {
	t.Helper()
	n.Stop()
	n.start(t)
}
