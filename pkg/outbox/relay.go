package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudlicense/authority/pkg/pgdb"
)

// Relay publishes committed outbox rows to JetStream in id order, using each
// row's event id as Nats-Msg-Id so a row published twice (a crash between the
// publish and the mark) is stored once. Several replicas may run a relay: rows
// are claimed with FOR UPDATE SKIP LOCKED.
type Relay struct {
	pool      *pgxpool.Pool
	schema    string
	js        jetstream.JetStream
	log       *slog.Logger
	batch     int
	retention time.Duration

	// PollInterval is how long an idle relay waits before looking again:
	// the most an event waits in the outbox after its commit.
	PollInterval time.Duration

	published metric.Int64Counter
	pending   metric.Int64Gauge
}

// NewRelay builds a relay for the outbox in schema (the pool's search path).
func NewRelay(pool *pgxpool.Pool, schema string, js jetstream.JetStream, log *slog.Logger) *Relay {
	meter := otel.Meter("github.com/cloudlicense/authority/pkg/outbox")
	published, _ := meter.Int64Counter("licensing_outbox_published_total", metric.WithDescription("Outbox rows published to JetStream"))
	pending, _ := meter.Int64Gauge("licensing_outbox_pending", metric.WithDescription("Outbox rows not yet published after the last relay pass"))
	return &Relay{pool: pool, schema: schema, js: js, log: log, batch: 256, retention: time.Hour, PollInterval: 25 * time.Millisecond, published: published, pending: pending}
}

// Run relays until ctx ends. While a pass finds rows it goes straight on;
// when idle it polls every PollInterval (an index-only look at the partial
// index of unpublished rows, cheap enough to do often).
func (r *Relay) Run(ctx context.Context) error {
	cleanup := time.NewTicker(time.Minute)
	defer cleanup.Stop()
	failures := 0
	for {
		n, err := r.publishBatch(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			delay := min(50*time.Millisecond<<min(failures, 6), 3*time.Second)
			r.log.WarnContext(ctx, "outbox relay pass failed; retrying", "schema", r.schema, "error", err, "retry_in", delay)
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		case n == r.batch:
			failures = 0
			continue // more waiting
		}
		failures = 0
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.PollInterval):
		case <-cleanup.C:
			r.cleanup(ctx)
		}
	}
}

type row struct {
	id      int64
	eventID string
	subject string
	payload []byte
	headers map[string]string
}

// publishBatch claims up to r.batch unpublished rows, publishes them and
// marks them in the same transaction: if the publish fails, the claim rolls
// back and the rows wait for the next pass.
func (r *Relay) publishBatch(ctx context.Context) (int, error) {
	var n int
	err := pgdb.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, event_id::text, subject, payload, headers FROM outbox
			WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
		if err != nil {
			return err
		}
		batch, err := pgx.CollectRows(rows, func(rs pgx.CollectableRow) (row, error) {
			var rw row
			var h []byte
			if err := rs.Scan(&rw.id, &rw.eventID, &rw.subject, &rw.payload, &h); err != nil {
				return rw, err
			}
			return rw, json.Unmarshal(h, &rw.headers)
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		ids, err := r.publish(ctx, batch)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, ids); err != nil {
			return err
		}
		n = len(batch)
		return nil
	})
	if err == nil && n > 0 {
		r.published.Add(ctx, int64(n))
	}
	return n, err
}

// publish sends the batch asynchronously and waits for every ack, so one
// round trip to the server covers many rows.
func (r *Relay) publish(ctx context.Context, batch []row) ([]int64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	for _, rw := range batch {
		msg := nats.NewMsg(rw.subject)
		msg.Data = rw.payload
		for k, v := range rw.headers {
			msg.Header.Set(k, v)
		}
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(rw.eventID))
		if err != nil {
			return nil, fmt.Errorf("outbox: publish %s: %w", rw.subject, err)
		}
		futures = append(futures, f)
	}
	ids := make([]int64, 0, len(batch))
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
			ids = append(ids, batch[i].id)
		case err := <-f.Err():
			return nil, fmt.Errorf("outbox: publish %s: %w", batch[i].subject, err)
		case <-timeout.C:
			return nil, errors.New("outbox: publish: no ack from JetStream within 10s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return ids, nil
}

func (r *Relay) cleanup(ctx context.Context) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`, r.retention.Seconds())
	if err != nil {
		r.log.WarnContext(ctx, "outbox cleanup", "error", err)
		return
	}
	var pending int64
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&pending); err == nil {
		r.pending.Record(ctx, pending)
	}
	if tag.RowsAffected() > 0 {
		r.log.DebugContext(ctx, "outbox cleanup", "deleted", tag.RowsAffected())
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
