package harness

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishOutbox publishes every unpublished outbox row once, the way the
// outbox relay does (stored headers, the event id as Nats-Msg-Id), and marks
// them published. Tests call it at the point they expect events, so they do
// not depend on the relay's wake-up timing.
func PublishOutbox(t testing.TB, pool *pgxpool.Pool, js jetstream.JetStream) int {
	t.Helper()
	ctx := t.Context()
	rows, err := pool.Query(ctx, `SELECT id, event_id::text, subject, payload, headers FROM outbox WHERE published_at IS NULL ORDER BY id`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	type row struct {
		id      int64
		eventID string
		msg     *nats.Msg
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var out row
		var subject string
		var payload, headers []byte
		if err := r.Scan(&out.id, &out.eventID, &subject, &payload, &headers); err != nil {
			return out, err
		}
		var h map[string]string
		if err := json.Unmarshal(headers, &h); err != nil {
			return out, err
		}
		out.msg = nats.NewMsg(subject)
		out.msg.Data = payload
		for k, v := range h {
			out.msg.Header.Set(k, v)
		}
		return out, nil
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	for _, r := range batch {
		if _, err := js.PublishMsg(ctx, r.msg, jetstream.WithMsgID(r.eventID)); err != nil {
			t.Fatalf("publish outbox row %d: %v", r.id, err)
		}
		if _, err := pool.Exec(context.WithoutCancel(ctx), `UPDATE outbox SET published_at = now() WHERE id = $1`, r.id); err != nil {
			t.Fatalf("mark outbox row %d: %v", r.id, err)
		}
	}
	return len(batch)
}
