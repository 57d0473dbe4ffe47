package consumer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/signer/internal/consumer"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	pool     *pgxpool.Pool
	store    *store.Store
	keys     signertest.Keys
	registry *signertest.Registry
	iss      *issuance.Service
}

// newEnv wires the issuance to a registry that knows nothing, so any call
// the consumer made to it would fail the workspace and show in its count.
func newEnv(t *testing.T) env {
	t.Helper()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	km := signertest.NewKeys(t)
	reg := signertest.NewRegistry()
	return env{pool: pool, store: st, keys: km, registry: reg, iss: issuance.New(st, km, reg)}
}

func registered(workspaceID, plan string) []byte {
	b, err := proto.Marshal(&eventsv1.WorkspaceRegistered{
		WorkspaceId: workspaceID, CustomerId: "cus_1", PlanId: plan, ClientName: "acme", RegisteredAt: timestamppb.Now(),
	})
	if err != nil {
		panic(err)
	}
	return b
}

func (e env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHandlerAppliedTwiceHasOneEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	handle := consumer.Handler(e.iss)
	// Two deliveries with different message ids: the inbox cannot help, the
	// issuance rule must.
	for i, id := range []string{"m1", "m2"} {
		err := pgdb.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
			return handle(t.Context(), tx, events.Message{ID: id, Subject: events.SubjectWorkspaceRegistered, Data: registered("ws-twice", "pro")})
		})
		if err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	ls, err := e.store.Licenses(t.Context(), "ws-twice")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Sequence != 1 || ls[0].PlanID != "pro" || ls[0].Address != "" {
		t.Fatalf("licenses = %+v, want one: sequence 1 on pro, unbound", ls)
	}
	if _, err := license.VerifyWithKey(ls[0].Token, e.keys.Key.Public()); err != nil {
		t.Error(err)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectLicenseIssued); n != 1 {
		t.Errorf("%d license.issued events, want 1", n)
	}
	if e.registry.Calls() != 0 {
		t.Errorf("the consumer called the registry %d times", e.registry.Calls())
	}
}

func TestHandlerPoison(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	handle := consumer.Handler(e.iss)
	for name, data := range map[string][]byte{
		"not protobuf":    []byte("\xff\xff\xff"),
		"no workspace id": registered("", ""),
		"unknown plan":    registered("ws-platinum", "platinum"),
	} {
		err := pgdb.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
			return handle(t.Context(), tx, events.Message{ID: name, Data: data})
		})
		if !errors.Is(err, events.ErrPoison) {
			t.Errorf("%s: %v, want poison", name, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM licenses`); n != 0 {
		t.Errorf("%d licenses issued from poison", n)
	}
}

func TestConsumerThroughNATS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := testenv.StartNATS(t)
	nc, err := events.Connect(srv.URL, "signer-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := events.EnsureStream(t.Context(), js, events.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- consumer.New(js, e.pool, e.iss, quiet).Run(ctx) }()
	go func() { done <- outbox.NewRelay(e.pool, signertest.Schema, js, quiet).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("loop: %v", err)
			}
		}
	})

	publish := func(msgID string) {
		t.Helper()
		msg := nats.NewMsg(events.SubjectWorkspaceRegistered)
		msg.Data = registered("ws-nats", "")
		msg.Header.Set(events.HeaderAggregateID, "ws-nats")
		msg.Header.Set(events.HeaderAggregateSeq, "1")
		if _, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
	}
	// The relay republishing a row (same id) is dropped by JetStream; a
	// second row for the same registration (another id) reaches the handler.
	publish("registered-1")
	publish("registered-1")
	publish("registered-2")

	waitFor(t, "both messages applied", func() bool {
		return e.count(t, `SELECT count(*) FROM inbox WHERE msg_id IN ('signer:registered-1', 'signer:registered-2')`) == 2
	})
	ls, err := e.store.Licenses(t.Context(), "ws-nats")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Sequence != 1 || ls[0].PlanID != "starter" || ls[0].Address != "" {
		t.Fatalf("licenses = %+v, want one: sequence 1 on starter, unbound", ls)
	}
	if e.registry.Calls() != 0 {
		t.Errorf("the consumer called the registry %d times", e.registry.Calls())
	}

	// The relay publishes license.issued, carrying the license itself.
	var issued eventsv1.LicenseIssued
	var headers nats.Header
	waitFor(t, "license.issued on the stream", func() bool {
		m, err := stream.GetLastMsgForSubject(t.Context(), events.SubjectLicenseIssued)
		if err != nil {
			return false
		}
		headers = m.Header
		return proto.Unmarshal(m.Data, &issued) == nil
	})
	if issued.GetLicenseId() != ls[0].ID || issued.GetSequence() != 1 || issued.GetWorkspaceId() != "ws-nats" || issued.GetToken() != ls[0].Token {
		t.Errorf("license.issued = %v", &issued)
	}
	if headers.Get(events.HeaderAggregateID) != "ws-nats" || headers.Get(events.HeaderAggregateSeq) != "1" {
		t.Errorf("headers = %v", headers)
	}
	if _, err := license.VerifyWithKey(issued.GetToken(), e.keys.Key.Public()); err != nil {
		t.Error(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}
