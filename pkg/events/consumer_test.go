package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/testenv"
)

// recorder is a handler that writes one applications row per call and keeps
// what it was given; fail decides, per call, what it returns after writing.
type recorder struct {
	mu    sync.Mutex
	calls []call
	fail  func(events.Message) error
}

type call struct {
	msg     events.Message
	traceID trace.TraceID
	at      time.Time
}

func (r *recorder) handle(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	r.mu.Lock()
	r.calls = append(r.calls, call{msg: msg, traceID: trace.SpanContextFromContext(ctx).TraceID(), at: time.Now()})
	r.mu.Unlock()
	if _, err := tx.Exec(ctx, `INSERT INTO applications (msg_id, subject, data) VALUES ($1, $2, $3)`, msg.ID, msg.Subject, string(msg.Data)); err != nil {
		return err
	}
	if r.fail != nil {
		return r.fail(msg)
	}
	return nil
}

func (r *recorder) seen() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  events.StreamConfig
		want events.StreamConfig
	}{
		{"defaults", events.StreamConfig{}, events.StreamConfig{Name: "LICENSING", Replicas: 1, Duplicates: 10 * time.Minute, MaxAge: 7 * 24 * time.Hour}},
		{"explicit", events.StreamConfig{Name: "LICENSING_TEST", Duplicates: time.Minute, MaxAge: time.Hour}, events.StreamConfig{Name: "LICENSING_TEST", Replicas: 1, Duplicates: time.Minute, MaxAge: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testenv.StartNATS(t)
			nc, err := events.Connect(srv.URL, t.Name())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			// Declaring twice is how every replica starts.
			for range 2 {
				if _, err := events.EnsureStream(ctx, js, tt.cfg); err != nil {
					t.Fatal(err)
				}
			}
			s, err := js.Stream(ctx, tt.want.Name)
			if err != nil {
				t.Fatal(err)
			}
			c := s.CachedInfo().Config
			if !slices.Equal(c.Subjects, []string{"licensing.>"}) || c.Storage != jetstream.FileStorage ||
				c.Replicas != tt.want.Replicas || c.Duplicates != tt.want.Duplicates || c.MaxAge != tt.want.MaxAge {
				t.Errorf("stream config = %+v", c)
			}
			if _, err := js.Publish(ctx, events.SubjectWorkspaceRegistered, []byte("{}")); err != nil {
				t.Errorf("publish on a licensing subject: %v", err)
			}
			if _, err := js.Publish(ctx, "other.subject", []byte("{}")); err == nil {
				t.Error("a subject outside licensing.> was stored")
			}
			// A changed setting updates the stream in place.
			tt.cfg.MaxAge = 2 * time.Hour
			s, err = events.EnsureStream(ctx, js, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.MaxAge; got != 2*time.Hour {
				t.Errorf("MaxAge after update = %s", got)
			}
			if got := s.CachedInfo().State.Msgs; got != 1 {
				t.Errorf("stream holds %d messages after the update, want 1", got)
			}
		})
	}
}

func TestEventHeaders(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	})
	traced := trace.ContextWithSpanContext(t.Context(), sc)
	tests := []struct {
		name string
		ctx  context.Context
		e    events.Event
		want map[string]string
	}{
		{"aggregate only", t.Context(), events.Event{AggregateID: "w1"}, map[string]string{events.HeaderAggregateID: "w1"}},
		{"with sequence", t.Context(), events.Event{AggregateID: "w1", Sequence: 7}, map[string]string{events.HeaderAggregateID: "w1", events.HeaderAggregateSeq: "7"}},
		{"with trace", traced, events.Event{AggregateID: "w1", Sequence: 1}, map[string]string{
			events.HeaderAggregateID: "w1", events.HeaderAggregateSeq: "1",
			"traceparent": "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.e.Headers(tt.ctx)
			if len(got) != len(tt.want) {
				t.Errorf("Headers = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("Headers[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestPoison(t *testing.T) {
	t.Parallel()
	cause := errors.New("payload does not decode")
	err := events.Poison(cause)
	if !errors.Is(err, events.ErrPoison) || !errors.Is(err, cause) {
		t.Errorf("Poison(%v) = %v: matches ErrPoison %v, the cause %v", cause, err, errors.Is(err, events.ErrPoison), errors.Is(err, cause))
	}
}

func TestConsumerAppliesAndAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := &recorder{}
	e.run(t, events.ConsumerConfig{Durable: "applier", Subjects: []string{events.SubjectLicenseIssued, events.SubjectWorkspaceSynced}}, rec.handle)

	traceID := trace.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	e.publish(t, events.SubjectLicenseIssued, "evt-1", "first", nats.Header{
		events.HeaderAggregateID:  {"w-1"},
		events.HeaderAggregateSeq: {"3"},
		"traceparent":             {"00-" + traceID.String() + "-0102030405060708-01"},
	})
	e.publish(t, events.SubjectWorkspaceRegistered, "evt-2", "not for this consumer", nil)
	last := e.publish(t, events.SubjectWorkspaceSynced, "", "no msg id", nil)

	e.settled(t, "applier", last.Sequence)
	calls := rec.seen()
	if len(calls) != 2 {
		t.Fatalf("handler called %d times, want 2: %+v", len(calls), calls)
	}
	first, second := calls[0].msg, calls[1].msg
	if first.ID != "evt-1" || first.Subject != events.SubjectLicenseIssued || first.AggregateID != "w-1" ||
		first.Sequence != 3 || string(first.Data) != "first" || first.Delivered != 1 {
		t.Errorf("first message = %+v", first)
	}
	if calls[0].traceID != traceID {
		t.Errorf("handler trace id = %s, want the publisher's %s", calls[0].traceID, traceID)
	}
	// Without a Nats-Msg-Id the stream sequence names the message.
	if second.ID != "seq-3" || second.Subject != events.SubjectWorkspaceSynced {
		t.Errorf("second message = %+v", second)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox WHERE msg_id IN ('applier:evt-1', 'applier:seq-3')"); n != 2 {
		t.Errorf("inbox rows = %d, want 2", n)
	}
	if n := e.count(t, "SELECT count(*) FROM applications"); n != 2 {
		t.Errorf("applications = %d, want 2", n)
	}
}

func TestConsumerSamePayloadTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	calls := 0
	// A naturally idempotent handler: the effect is keyed by the payload.
	e.run(t, events.ConsumerConfig{Durable: "idem"}, func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		mu.Lock()
		calls++
		mu.Unlock()
		_, err := tx.Exec(ctx, "INSERT INTO effects (key) VALUES ($1) ON CONFLICT DO NOTHING", string(msg.Data))
		return err
	})
	e.publish(t, events.SubjectWorkspaceRegistered, "a", "workspace-1", nil)
	last := e.publish(t, events.SubjectWorkspaceRegistered, "b", "workspace-1", nil)
	e.settled(t, "idem", last.Sequence)
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("handler called %d times, want 2 (two distinct messages)", calls)
	}
	if n := e.count(t, "SELECT count(*) FROM effects"); n != 1 {
		t.Errorf("effects = %d, want 1", n)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox"); n != 2 {
		t.Errorf("inbox = %d, want 2", n)
	}
}

func TestPublishSameIDTwiceIsStoredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.publish(t, events.SubjectWorkspaceRegistered, "same", "x", nil)
	again := e.publish(t, events.SubjectWorkspaceRegistered, "same", "x", nil)
	if !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("second publish = %+v, want a duplicate of sequence %d", again, first.Sequence)
	}
}

func TestConsumerRedeliversAfterRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The handler writes its effect, then fails on the first delivery: the
	// effect rolls back with the inbox row and the message comes again.
	rec := &recorder{fail: func(m events.Message) error {
		if m.Delivered == 1 {
			return errors.New("downstream briefly unavailable")
		}
		return nil
	}}
	e.run(t, events.ConsumerConfig{Durable: "retrier"}, rec.handle)
	last := e.publish(t, events.SubjectLicenseIssued, "flaky", "payload", nil)
	info := e.settled(t, "retrier", last.Sequence)

	calls := rec.seen()
	if len(calls) != 2 || calls[0].msg.Delivered != 1 || calls[1].msg.Delivered != 2 || calls[1].msg.ID != "flaky" {
		t.Fatalf("calls = %+v, want deliveries 1 and 2 of flaky", calls)
	}
	// Nak carries a delay, so the retry does not come straight back.
	if gap := calls[1].at.Sub(calls[0].at); gap < 200*time.Millisecond {
		t.Errorf("redelivered after %s, want the backoff of at least 200ms", gap)
	}
	if n := e.count(t, "SELECT count(*) FROM applications WHERE msg_id = 'flaky'"); n != 1 {
		t.Errorf("effect applied %d times, want once", n)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox WHERE msg_id = 'retrier:flaky'"); n != 1 {
		t.Errorf("inbox rows = %d, want 1", n)
	}
	if info.NumRedelivered != 0 || info.Delivered.Consumer != 2 {
		t.Errorf("consumer info: redelivered %d, deliveries %d; want 0 and 2", info.NumRedelivered, info.Delivered.Consumer)
	}
	if e.logs.Matching("event not applied; will retry") != 1 {
		t.Errorf("the failed delivery was not logged once")
	}
}

func TestConsumerSkipsAppliedMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The process committed this message's effects and crashed before the
	// ack: its inbox row is there, and the redelivery must change nothing.
	if _, err := e.pool.Exec(t.Context(), "INSERT INTO inbox (msg_id, subject) VALUES ('skipper:done-1', $1)", events.SubjectLicenseIssued); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e.run(t, events.ConsumerConfig{Durable: "skipper"}, rec.handle)
	e.publish(t, events.SubjectLicenseIssued, "done-1", "already applied", nil)
	last := e.publish(t, events.SubjectLicenseIssued, "new-1", "fresh", nil)
	e.settled(t, "skipper", last.Sequence)
	calls := rec.seen()
	if len(calls) != 1 || calls[0].msg.ID != "new-1" {
		t.Errorf("calls = %+v, want only new-1", calls)
	}
}

func TestConsumerTerminatesPoison(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := &recorder{fail: func(m events.Message) error {
		if string(m.Data) == "not json" {
			return events.Poison(errors.New("decode payload"))
		}
		return nil
	}}
	e.run(t, events.ConsumerConfig{Durable: "strict"}, rec.handle)
	e.publish(t, events.SubjectLicenseIssued, "bad", "not json", nil)
	last := e.publish(t, events.SubjectLicenseIssued, "good", "{}", nil)
	info := e.settled(t, "strict", last.Sequence)

	// Terminated: the ack floor moved past it, nothing is pending or being
	// redelivered, and the handler saw it exactly once.
	if info.AckFloor.Stream != last.Sequence || info.NumRedelivered != 0 || info.Delivered.Consumer != 2 {
		t.Errorf("consumer info: ack floor %d, redelivered %d, deliveries %d", info.AckFloor.Stream, info.NumRedelivered, info.Delivered.Consumer)
	}
	if n := e.count(t, "SELECT count(*) FROM applications WHERE msg_id = 'good'"); n != 1 {
		t.Errorf("the good message was applied %d times, want once", n)
	}
	if n := e.count(t, "SELECT count(*) FROM applications WHERE msg_id = 'bad'"); n != 0 {
		t.Errorf("the poison message's writes were committed")
	}
	if n := e.count(t, "SELECT count(*) FROM inbox WHERE msg_id = 'strict:bad'"); n != 0 {
		t.Errorf("the poison message is recorded as applied")
	}
	if e.logs.Matching("terminating poison message") != 1 {
		t.Errorf("the poison message was not logged once")
	}
}

// Messages waiting when the consumer starts are applied together, in fewer
// transactions than messages, and one poison message among them neither
// keeps the others from being applied once each nor is applied itself.
func TestConsumerAppliesWaitingMessagesInBatches(t *testing.T) {
	t.Parallel()
	for _, poison := range []bool{false, true} {
		t.Run(map[bool]string{false: "all good", true: "one poison"}[poison], func(t *testing.T) {
			e := newEnv(t)
			rec := &recorder{fail: func(m events.Message) error {
				if m.ID == "bad" {
					return events.Poison(errors.New("decode payload"))
				}
				return nil
			}}
			const n = 40
			var last *jetstream.PubAck
			for i := range n {
				id := fmt.Sprintf("m%02d", i)
				if poison && i == n/2 {
					id = "bad"
				}
				last = e.publish(t, events.SubjectLicenseIssued, id, "{}", nil)
			}
			e.run(t, events.ConsumerConfig{Durable: "batcher", Batch: 16}, rec.handle)
			info := e.settled(t, "batcher", last.Sequence)
			good := n
			if poison {
				good--
			}
			if got := e.count(t, "SELECT count(DISTINCT msg_id) FROM applications WHERE msg_id <> 'bad'"); got != good {
				t.Errorf("%d distinct messages applied, want %d", got, good)
			}
			if got := e.count(t, "SELECT count(*) FROM applications"); got != good {
				t.Errorf("%d applications, want %d (each good message once, the poison one never)", got, good)
			}
			if got := e.count(t, "SELECT count(*) FROM inbox WHERE msg_id LIKE 'batcher:%'"); got != good {
				t.Errorf("inbox rows = %d, want %d", got, good)
			}
			if info.AckFloor.Stream != last.Sequence || info.NumAckPending != 0 {
				t.Errorf("ack floor %d (want %d), pending %d", info.AckFloor.Stream, last.Sequence, info.NumAckPending)
			}
			if !poison {
				// Rows one transaction wrote share its id.
				if txs := e.count(t, "SELECT count(DISTINCT xmin::text) FROM applications"); txs >= n {
					t.Errorf("%d messages took %d transactions: not batched", n, txs)
				}
			}
		})
	}
}

func TestConsumerResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := &recorder{}
	// A first run in a subtest, so its cleanup stops it before the second.
	t.Run("first run", func(t *testing.T) {
		e.run(t, events.ConsumerConfig{Durable: "durable"}, first.handle)
		e.settled(t, "durable", e.publish(t, events.SubjectLicenseIssued, "m1", "1", nil).Sequence)
	})
	e.publish(t, events.SubjectLicenseIssued, "m2", "2", nil)
	last := e.publish(t, events.SubjectLicenseIssued, "m3", "3", nil)
	second := &recorder{}
	e.run(t, events.ConsumerConfig{Durable: "durable"}, second.handle)
	e.settled(t, "durable", last.Sequence)
	var ids []string
	for _, c := range second.seen() {
		ids = append(ids, c.msg.ID)
	}
	if len(first.seen()) != 1 || !slices.Equal(ids, []string{"m2", "m3"}) {
		t.Errorf("first run saw %d, second run saw %v; want 1 and [m2 m3]", len(first.seen()), ids)
	}
}

// Two services consuming the same stream keep separate inbox entries: one's
// having applied a message does not make the other skip it.
func TestConsumersShareAnInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := &recorder{}, &recorder{}
	e.run(t, events.ConsumerConfig{Durable: "svc_a"}, a.handle)
	e.run(t, events.ConsumerConfig{Durable: "svc_b"}, b.handle)
	last := e.publish(t, events.SubjectWorkspaceRegistered, "shared-1", "x", nil)
	e.settled(t, "svc_a", last.Sequence)
	e.settled(t, "svc_b", last.Sequence)
	if len(a.seen()) != 1 || len(b.seen()) != 1 {
		t.Errorf("a saw %d, b saw %d; want 1 each", len(a.seen()), len(b.seen()))
	}
}
