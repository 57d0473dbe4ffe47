package outbox_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
)

// TestWriteAndInsert stores the same event through Write and through the
// hot path's own statement built on Insert and NewRow: the rows are alike.
func TestWriteAndInsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	}))
	ev := events.Event{Subject: events.SubjectWorkspaceSynced, AggregateID: "w-1", Sequence: 2, Payload: []byte(`{"n":1}`)}
	writers := []struct {
		name  string
		write func(context.Context, pgx.Tx) error
	}{
		{"Write", func(ctx context.Context, tx pgx.Tx) error { return outbox.Write(ctx, tx, ev) }},
		{"Insert", func(ctx context.Context, tx pgx.Tx) error {
			r, err := outbox.NewRow(ctx, ev)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, outbox.Insert+` SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM orders WHERE id = 'o-1')`, r.Subject, r.Payload, r.Headers)
			return err
		}},
	}
	if _, err := e.pool.Exec(ctx, "INSERT INTO orders (id) VALUES ('o-1')"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		events.HeaderAggregateID:  "w-1",
		events.HeaderAggregateSeq: "2",
		"traceparent":             "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01",
	}
	for _, w := range writers {
		var subject, eventID string
		var payload, headers []byte
		if err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
			if err := w.write(ctx, tx); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT event_id::text, subject, payload, headers FROM outbox ORDER BY id DESC LIMIT 1`).Scan(&eventID, &subject, &payload, &headers)
		}); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		var got map[string]string
		if err := json.Unmarshal(headers, &got); err != nil {
			t.Fatalf("%s: headers %s: %v", w.name, headers, err)
		}
		if subject != ev.Subject || string(payload) != string(ev.Payload) || !maps.Equal(got, want) || len(eventID) != 36 {
			t.Errorf("%s stored %s %s %s %v", w.name, eventID, subject, payload, got)
		}
	}
	if n := e.count(t, "SELECT count(DISTINCT event_id) FROM outbox"); n != 2 {
		t.Errorf("%d distinct event ids for two rows", n)
	}
}
