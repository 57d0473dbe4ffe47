package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudlicense/authority/pkg/events"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestNATSOutageMidBurstThenRedelivery stops NATS in the middle of a burst of
// registrations and plan changes and starts it again: every event is
// published once (the stream holds exactly the outbox rows), every effect
// happens once (each workspace's licenses are 1..n with no gap or duplicate,
// each view holds the newest), and the outboxes drain. Then every event in
// the stream is published again, once with its own Nats-Msg-Id (JetStream
// drops it) and once with a new one (every consumer receives it): nothing
// changes in any service.
func TestNATSOutageMidBurstThenRedelivery(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Burst")
	token := createToken(t, sys, customer, "", 100)
	admin := adminClient(t, sys)
	db := connect(t, sys.DatabaseURL)

	register := func() (string, error) {
		c, err := ws.Register(ctx, token, "b@burst.test", "burst")
		return c.WorkspaceID, err
	}
	var first []string
	for range 6 {
		id, err := register()
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, id)
	}
	eventually(t, 60*time.Second, "the signer knows the first workspaces", func() (bool, error) {
		n := scalar(t, db, `SELECT count(DISTINCT workspace_id) FROM signer.licenses`)
		return n == len(first), fmt.Errorf("%d of %d", n, len(first))
	})

	// The burst: registrations and seat changes side by side, with NATS
	// stopped after a few operations and started again a few later.
	const grantsEach = 3
	var (
		done    atomic.Int64
		mu      sync.Mutex
		later   []string
		errs    []error
		wg      sync.WaitGroup
		granted = map[string]int{}
	)
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 12 {
			id, err := register()
			if err != nil {
				fail(fmt.Errorf("register: %w", err))
				return
			}
			mu.Lock()
			later = append(later, id)
			mu.Unlock()
			done.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for round := range grantsEach {
			for _, id := range first {
				seats := int64(10 + round)
				_, err := admin.Subscriptions.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{
					IdempotencyKey: fmt.Sprintf("burst-%s-%d", id, round), WorkspaceId: id, CustomerId: customer, PlanId: "pro", Seats: &seats,
				})
				if err != nil {
					fail(fmt.Errorf("grant %s round %d: %w", id, round, err))
					return
				}
				mu.Lock()
				granted[id]++
				mu.Unlock()
				done.Add(1)
			}
		}
	}()
	waitOps := func(n int64) {
		eventually(t, 60*time.Second, fmt.Sprintf("%d operations of the burst", n), func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			return done.Load() >= n, nil
		})
	}
	waitOps(5)
	sys.NATS.Stop()
	waitOps(17)
	if pending := scalar(t, db, `SELECT (SELECT count(*) FROM registry.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM signer.outbox WHERE published_at IS NULL)`); pending == 0 {
		t.Fatal("with NATS down, the outboxes should hold the new events")
	}
	sys.NATS.Restart(t)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	all := append(append([]string{}, first...), later...)

	eventually(t, 90*time.Second, "every workspace licensed and every view current", func() (bool, error) {
		n := scalar(t, db, `SELECT count(*) FROM sync.views v JOIN (SELECT workspace_id, max(sequence) AS s FROM signer.licenses GROUP BY workspace_id) l USING (workspace_id) WHERE v.license_sequence = l.s`)
		return n == len(all), fmt.Errorf("%d of %d views hold the newest license", n, len(all))
	})
	outboxes := []string{"registry", "tokens", "signer", "sync"}
	eventually(t, 30*time.Second, "the outboxes drained", func() (bool, error) {
		n := 0
		for _, s := range outboxes {
			n += scalar(t, db, `SELECT count(*) FROM `+s+`.outbox WHERE published_at IS NULL`)
		}
		return n == 0, fmt.Errorf("%d unpublished", n)
	})
	for _, id := range all {
		want := 1 + granted[id]
		var n, maxSeq, distinct int
		if err := db.QueryRow(ctx, `SELECT count(*), coalesce(max(sequence), 0), count(DISTINCT sequence) FROM signer.licenses WHERE workspace_id = $1`, id).Scan(&n, &maxSeq, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != want || maxSeq != want || distinct != want {
			t.Errorf("workspace %s: %d licenses, newest %d, %d distinct; want 1..%d", id, n, maxSeq, distinct, want)
		}
	}

	nc, err := nats.Connect(sys.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	// Each outbox row is in the stream once, and nothing else is.
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	rows := outboxBySubject(t, db, outboxes)
	for subject, n := range rows {
		if got := info.State.Subjects[subject]; got != uint64(n) {
			t.Errorf("stream holds %d %s events, the outboxes %d", got, subject, n)
		}
	}
	if info.State.Msgs != uint64(sum(rows)) {
		t.Errorf("stream holds %d events, the outboxes %d", info.State.Msgs, sum(rows))
	}
	waitConsumersIdle(t, stream)

	// Redelivery: every consumer's real events, again.
	before := snapshot(t, db, outboxes)
	msgs := streamMessages(t, stream, info.State.Msgs)
	for _, m := range msgs {
		again := nats.NewMsg(m.Subject())
		again.Data = m.Data()
		for k, v := range m.Headers() {
			again.Header[k] = v
		}
		ack, err := js.PublishMsg(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Duplicate {
			t.Errorf("%s republished with its Nats-Msg-Id was not dropped as a duplicate", m.Subject())
		}
		again.Header.Set(jetstream.MsgIDHeader, newID())
		if ack, err := js.PublishMsg(ctx, again); err != nil || ack.Duplicate {
			t.Fatalf("republish with a new Nats-Msg-Id: %v, %+v", err, ack)
		}
	}
	waitConsumersIdle(t, stream)
	if after := snapshot(t, db, outboxes); after != before {
		t.Fatalf("a redelivered event had a second effect:\nbefore %s\nafter  %s", before, after)
	}
}

func outboxBySubject(t *testing.T, db *pgx.Conn, schemas []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range schemas {
		r, err := db.Query(t.Context(), `SELECT subject, count(*) FROM `+s+`.outbox GROUP BY subject`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var subject string
			var n int
			if err := r.Scan(&subject, &n); err != nil {
				t.Fatal(err)
			}
			out[subject] += n
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// snapshot is every effect the consumers have: licenses, views with their
// revisions, workspaces, usage, mail records, and the events each service
// recorded.
func snapshot(t *testing.T, db *pgx.Conn, outboxes []string) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		`SELECT count(*)::text || '/' || coalesce(sum(sequence), 0)::text FROM signer.licenses`,
		`SELECT count(*)::text FROM signer.workspaces`,
		`SELECT coalesce(string_agg(workspace_id || ':' || revision || ':' || license_sequence || ':' || remove_license, ',' ORDER BY workspace_id), '') FROM sync.views`,
		`SELECT count(*)::text FROM registry.workspaces`,
	} {
		var s string
		if err := db.QueryRow(t.Context(), q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts = append(parts, s)
	}
	for subject, n := range outboxBySubject(t, db, outboxes) {
		parts = append(parts, fmt.Sprintf("%s=%d", subject, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// streamMessages reads the first n messages of the stream in order.
func streamMessages(t *testing.T, stream jetstream.Stream, n uint64) []jetstream.Msg {
	t.Helper()
	c, err := stream.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < n {
		batch, err := c.Fetch(int(n)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			out = append(out, m)
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of %d stream messages", len(out), n)
		}
	}
	return out
}

// waitConsumersIdle waits until every durable consumer of the stream has
// acknowledged everything delivered to it.
func waitConsumersIdle(t *testing.T, stream jetstream.Stream) {
	t.Helper()
	eventually(t, 60*time.Second, "every consumer caught up", func() (bool, error) {
		lister := stream.ListConsumers(t.Context())
		n := 0
		for ci := range lister.Info() {
			if ci.Config.Durable == "" {
				continue
			}
			n++
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				return false, fmt.Errorf("%s: %d pending, %d unacknowledged", ci.Name, ci.NumPending, ci.NumAckPending)
			}
		}
		if err := lister.Err(); err != nil {
			return false, err
		}
		return n > 0, fmt.Errorf("no durable consumers")
	})
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
