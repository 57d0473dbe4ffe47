package outbox_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

// TestCommittedEventsAppliedExactlyOnce writes 50 events from concurrent
// transactions, some rolled back, while a relay and a consumer run: every
// committed event is applied once, no rolled-back one ever leaves the
// database, and the outbox drains.
func TestCommittedEventsAppliedExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runRelay(t)
	e.runConsumer(t, "applier")

	// 25 orders of two events each, from five writers; every fifth order
	// rolls back.
	var committed, rolledBack []string
	type order struct {
		id     string
		keys   []string
		commit bool
	}
	var orders [5][]order
	for i := range 25 {
		o := order{id: fmt.Sprintf("order-%02d", i), keys: []string{fmt.Sprintf("order-%02d/a", i), fmt.Sprintf("order-%02d/b", i)}, commit: i%5 != 3}
		orders[i%5] = append(orders[i%5], o)
		if o.commit {
			committed = append(committed, o.keys...)
		} else {
			rolledBack = append(rolledBack, o.keys...)
		}
	}
	var g errgroup.Group
	for _, mine := range orders {
		g.Go(func() error {
			for _, o := range mine {
				if err := e.order(t.Context(), o.id, o.keys, o.commit); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(committed) != 40 || len(rolledBack) != 10 {
		t.Fatalf("set-up: %d committed, %d rolled back", len(committed), len(rolledBack))
	}

	e.settled(t, "applier", 40, 30*time.Second)
	eventually(t, "the outbox to drain", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
	})

	if n := e.streamMsgs(t); n != 40 {
		t.Errorf("stream holds %d messages, want 40", n)
	}
	applied := e.strings(t, "SELECT key FROM applied ORDER BY key")
	slices.Sort(committed)
	if !slices.Equal(applied, committed) {
		t.Errorf("applied %d events %v,\nwant each of the %d committed once: %v", len(applied), applied, len(committed), committed)
	}
	for _, k := range rolledBack {
		if slices.Contains(applied, k) {
			t.Errorf("rolled-back event %s was applied", k)
		}
	}
	if n := e.count(t, "SELECT count(*) FROM orders"); n != 20 {
		t.Errorf("orders = %d, want 20", n)
	}
	// Each message went out under its row's event id.
	eventIDs := e.strings(t, "SELECT event_id::text FROM outbox ORDER BY 1")
	msgIDs := e.strings(t, "SELECT msg_id FROM applied ORDER BY 1")
	if len(eventIDs) != 40 || !slices.Equal(eventIDs, msgIDs) {
		t.Errorf("message ids %v differ from the outbox's event ids %v", msgIDs, eventIDs)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox"); n != 40 {
		t.Errorf("inbox = %d, want 40", n)
	}
	if n := e.logs.Matching("WARN"); n != 0 {
		t.Errorf("%d warnings logged", n)
	}
}

// TestRelaySurvivesNATSOutage commits events while NATS is down: they wait in
// the outbox, and once NATS is back each is published and consumed once.
func TestRelaySurvivesNATSOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runRelay(t)
	e.runConsumer(t, "applier")
	if err := e.order(t.Context(), "before", []string{"before"}, true); err != nil {
		t.Fatal(err)
	}
	e.settled(t, "applier", 1, 20*time.Second)

	e.nats.Stop()
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("during-%02d", i))
		if err := e.order(t.Context(), keys[i], keys[i:i+1], true); err != nil {
			t.Fatal(err)
		}
	}
	// The relay tried, failed, and left every row for a later pass.
	testenv.Eventually(t, 30*time.Second, "a failed relay pass", func() bool {
		return e.logs.Matching("outbox relay pass failed") > 0
	})
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); n != 20 {
		t.Fatalf("%d rows unpublished during the outage, want 20", n)
	}

	e.nats.Restart(t)
	e.settled(t, "applier", 21, 60*time.Second)
	eventually(t, "the outbox to drain", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
	})
	// Rows republished after a lost ack are deduplicated by their event id.
	if n := e.streamMsgs(t); n != 21 {
		t.Errorf("stream holds %d messages, want 21", n)
	}
	applied := e.strings(t, "SELECT key FROM applied ORDER BY key")
	want := append(slices.Clone(keys), "before")
	slices.Sort(want)
	if !slices.Equal(applied, want) {
		t.Errorf("applied %v, want each of %v once", applied, want)
	}
}

// TestRelayPublishesEventIDAsMsgID reads the published message back from the
// stream and checks its envelope.
func TestRelayPublishesEventIDAsMsgID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	traceID := trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}
	traced := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}, TraceFlags: trace.FlagsSampled,
	}))
	payload := []byte(`{"workspace_id":"w-9"}`)
	if err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		return outbox.Write(traced, tx, events.Event{Subject: events.SubjectWorkspaceRegistered, AggregateID: "w-9", Sequence: 4, Payload: payload})
	}); err != nil {
		t.Fatal(err)
	}
	var eventID string
	if err := e.pool.QueryRow(ctx, "SELECT event_id::text FROM outbox").Scan(&eventID); err != nil {
		t.Fatal(err)
	}
	e.runRelay(t)
	eventually(t, "the row to be published", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 1
	})

	msg, err := e.stream.GetLastMsgForSubject(ctx, events.SubjectWorkspaceRegistered)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		jetstream.MsgIDHeader:     eventID,
		events.HeaderAggregateID:  "w-9",
		events.HeaderAggregateSeq: "4",
		"traceparent":             "00-" + traceID.String() + "-b7ad6b7169203331-01",
	}
	for k, v := range want {
		if got := msg.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if extra := slices.DeleteFunc(slices.Collect(maps.Keys(msg.Header)), func(k string) bool { _, ok := want[k]; return ok }); len(extra) > 0 {
		t.Errorf("unexpected headers %v", extra)
	}
	if string(msg.Data) != string(payload) || msg.Subject != events.SubjectWorkspaceRegistered {
		t.Errorf("message = %s %q", msg.Subject, msg.Data)
	}

	// A relay that published and crashed before marking the row publishes it
	// again: the stream keeps one copy.
	if _, err := e.pool.Exec(ctx, "UPDATE outbox SET published_at = NULL"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the row to be published again", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 1
	})
	if n := e.streamMsgs(t); n != 1 {
		t.Errorf("stream holds %d messages after the republish, want 1", n)
	}
}

// TestRelayPublishesLateCommits covers the ordering trap of an outbox read by
// "id greater than the last one": a transaction that took a lower id but
// commits after a higher one must still be published.
func TestRelayPublishesLateCommits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	slow, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx) //nolint:errcheck // committed below
	if err := outbox.Write(ctx, slow, events.Event{Subject: events.SubjectLicenseIssued, AggregateID: "slow", Payload: []byte("slow")}); err != nil {
		t.Fatal(err)
	}
	e.runRelay(t)
	e.runConsumer(t, "applier")
	if err := e.order(ctx, "fast", []string{"fast"}, true); err != nil {
		t.Fatal(err)
	}
	e.settled(t, "applier", 1, 20*time.Second)
	if got := e.strings(t, "SELECT key FROM applied"); !slices.Equal(got, []string{"fast"}) {
		t.Fatalf("applied %v before the slow commit, want [fast]", got)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.settled(t, "applier", 2, 20*time.Second)
	if got := e.strings(t, "SELECT key FROM applied ORDER BY key"); !slices.Equal(got, []string{"fast", "slow"}) {
		t.Errorf("applied %v, want [fast slow]", got)
	}
	if ids := e.strings(t, "SELECT subject || ':' || id FROM outbox ORDER BY published_at, id"); len(ids) != 2 || !strings.HasSuffix(ids[1], ":1") {
		t.Errorf("outbox rows in publication order %v: want the lower id published last", ids)
	}
}

// TestRelayReplicas runs two relays on one outbox, as two replicas of a
// service would: they share the work without errors.
func TestRelayReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runRelay(t)
	e.runRelay(t)
	e.runConsumer(t, "applier")
	var g errgroup.Group
	for w := range 4 {
		g.Go(func() error {
			for i := range 25 {
				id := fmt.Sprintf("w%d-%02d", w, i)
				if err := e.order(t.Context(), id, []string{id}, true); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	e.settled(t, "applier", 100, 30*time.Second)
	if n := e.count(t, "SELECT count(DISTINCT key) FROM applied"); n != 100 {
		t.Errorf("applied %d distinct events, want 100", n)
	}
	if n := e.count(t, "SELECT count(*) FROM applied"); n != 100 {
		t.Errorf("applied %d times, want 100", n)
	}
	if n := e.logs.Matching("WARN"); n != 0 {
		t.Errorf("%d warnings logged", n)
	}
}
