package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestNATSOutageLosesNothing stops NATS while workspaces register, starts it
// again, and shows every registration event published exactly once and
// applied exactly once: each workspace gets license 1 and nothing more.
func TestNATSOutageLosesNothing(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	token := createToken(t, sys, createCustomer(t, sys, "Outage"), "", 100)

	register := func(n int) []string {
		var ids []string
		for range n {
			c, err := ws.Register(ctx, token, "o@outage.test", "outage")
			if err != nil {
				t.Fatalf("register: %v", err)
			}
			ids = append(ids, c.WorkspaceID)
		}
		return ids
	}
	ids := register(5)
	sys.NATS.Stop()
	ids = append(ids, register(10)...) // registrations go on: the outbox keeps the events
	db := connect(t, sys.DatabaseURL)
	if pending := scalar(t, db, `SELECT count(*) FROM registry.outbox WHERE published_at IS NULL`); pending == 0 {
		t.Fatal("with NATS down, the outbox should hold the new events")
	}
	sys.NATS.Restart(t)
	ids = append(ids, register(5)...)

	eventually(t, 60*time.Second, "one license per workspace", func() (bool, error) {
		n := scalar(t, db, `SELECT count(DISTINCT workspace_id) FROM signer.licenses`)
		return n == len(ids), fmt.Errorf("%d of %d workspaces licensed", n, len(ids))
	})
	eventually(t, 30*time.Second, "the outboxes drained", func() (bool, error) {
		n := scalar(t, db, `SELECT (SELECT count(*) FROM registry.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM signer.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM tokens.outbox WHERE published_at IS NULL)`)
		return n == 0, fmt.Errorf("%d unpublished", n)
	})
	if dup := scalar(t, db, `SELECT count(*) FROM signer.licenses WHERE sequence <> 1`); dup != 0 {
		t.Fatalf("%d licenses beyond sequence 1: an event was applied twice", dup)
	}
	// The stream holds each registration event once.
	nc, err := nats.Connect(sys.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.SubjectWorkspaceRegistered))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[events.SubjectWorkspaceRegistered]; got != uint64(len(ids)) {
		t.Fatalf("stream holds %d workspace.registered events, want %d", got, len(ids))
	}
	// And sync's view has each workspace's license (the license.issued events).
	eventually(t, 30*time.Second, "sync views for every workspace", func() (bool, error) {
		n := scalar(t, db, `SELECT count(*) FROM sync.views WHERE license_sequence = 1`)
		return n == len(ids), fmt.Errorf("%d of %d views", n, len(ids))
	})
}

// TestTraceCrossesServices sends a registration with a W3C traceparent and
// finds that trace in the spans of the gateway, the registry, the token
// service, Postgres queries and the signer's event consumer.
func TestTraceCrossesServices(t *testing.T) {
	sys := startSystem(t, true)
	ctx := t.Context()
	token := createToken(t, sys, createCustomer(t, sys, "Traced"), "", 1)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ws := workspace.New(sys.GatewayURL)
	ws.HTTP.Transport = traceparent{"00-" + traceID + "-00f067aa0ba902b7-01"}
	if _, err := ws.Register(ctx, token, "t@traced.test", "traced"); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"gateway", "registry", "tokens", "signer"} {
		eventually(t, 30*time.Second, "trace "+traceID+" in "+svc+"'s spans", func() (bool, error) {
			spans := readFile(sys.TraceFile(svc))
			return strings.Contains(spans, traceID), nil
		})
	}
	signer := readFile(sys.TraceFile("signer"))
	if !strings.Contains(signer, "consume "+events.SubjectWorkspaceRegistered) {
		t.Error("the signer's consumer span is missing")
	}
	if !strings.Contains(readFile(sys.TraceFile("registry")), `"pg INSERT"`) {
		t.Error("the registry's Postgres spans are missing")
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func scalar(t *testing.T, db *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
