package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudlicense/authority/pkg/pgdb"
)

// Message is one delivered event, as a handler sees it.
type Message struct {
	ID          string
	Subject     string
	AggregateID string
	Sequence    int64
	Data        []byte
	Delivered   uint64
}

// Handler applies one message inside the consumer's transaction. Returning an
// error rolls the transaction back; wrap with Poison for messages that can
// never succeed.
type Handler func(ctx context.Context, tx pgx.Tx, msg Message) error

// ConsumerConfig names a durable consumer.
type ConsumerConfig struct {
	Stream   string
	Durable  string
	Subjects []string
	// AckWait bounds how long one message may take before redelivery.
	AckWait    time.Duration
	MaxDeliver int
	// Batch is the most messages applied in one transaction (default 64).
	Batch int
}

// Consumer is a durable JetStream pull consumer whose effects and inbox row
// commit in one Postgres transaction before the message is acknowledged.
type Consumer struct {
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	cfg     ConsumerConfig
	handle  Handler
	log     *slog.Logger
	tracer  trace.Tracer
	applied metric.Int64Counter
	failed  metric.Int64Counter
}

// NewConsumer builds a consumer; Run declares it and starts consuming.
func NewConsumer(js jetstream.JetStream, pool *pgxpool.Pool, cfg ConsumerConfig, handle Handler, log *slog.Logger) *Consumer {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = -1
	}
	meter := otel.Meter("github.com/cloudlicense/authority/pkg/events")
	applied, _ := meter.Int64Counter("licensing_events_applied_total", metric.WithDescription("Events applied by a consumer"))
	failed, _ := meter.Int64Counter("licensing_events_failed_total", metric.WithDescription("Event deliveries that failed and were retried or terminated"))
	return &Consumer{
		js: js, pool: pool, cfg: cfg, handle: handle, log: log,
		tracer:  otel.Tracer("github.com/cloudlicense/authority/pkg/events"),
		applied: applied, failed: failed,
	}
}

// Run consumes until ctx ends. It survives NATS outages: the declaration is
// retried and the pull subscription resumes when the connection returns.
func (c *Consumer) Run(ctx context.Context) error {
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, c.consumerConfig())
		if err == nil {
			break
		}
		c.log.WarnContext(ctx, "declare consumer; retrying", "consumer", c.cfg.Durable, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	// The subscription hands messages over one by one; the applier takes
	// whatever has arrived, up to a batch, into one transaction.
	arrived := make(chan jetstream.Msg, c.cfg.Batch)
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		c.applyArrivals(ctx, arrived)
	}()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case arrived <- m:
		case <-ctx.Done():
			_ = m.Nak() // stopping: redelivered at once, here or to another replica
		}
	},
		jetstream.PullMaxMessages(2*c.cfg.Batch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) && !errors.Is(err, nats.ErrConnectionClosed) {
				c.log.Debug("consume", "consumer", c.cfg.Durable, "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("events: consume %s: %w", c.cfg.Durable, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	<-applied
	return nil
}

// applyArrivals applies messages as they arrive until ctx ends: each pass
// takes the first that arrives and every other already waiting, up to a
// batch.
func (c *Consumer) applyArrivals(ctx context.Context, arrived <-chan jetstream.Msg) {
	batch := make([]jetstream.Msg, 0, c.cfg.Batch)
	for {
		select {
		case <-ctx.Done():
			// Stopping: what arrived is handed back for redelivery at once
			// rather than after AckWait.
			for len(arrived) > 0 {
				_ = (<-arrived).Nak()
			}
			return
		case m := <-arrived:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < c.cfg.Batch {
			select {
			case m := <-arrived:
				batch = append(batch, m)
			default:
				break more
			}
		}
		c.processBatch(ctx, batch)
	}
}

func (c *Consumer) consumerConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	// One subject goes in the singular field: servers before 2.10 know only
	// that one.
	if len(c.cfg.Subjects) == 1 {
		cc.FilterSubject = c.cfg.Subjects[0]
	} else {
		cc.FilterSubjects = c.cfg.Subjects
	}
	return cc
}

// delivery is one message being applied, with its span.
type delivery struct {
	raw  jetstream.Msg
	msg  Message
	ctx  context.Context
	span trace.Span
}

func (c *Consumer) deliver(ctx context.Context, m jetstream.Msg) delivery {
	msg := toMessage(m)
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier(m.Headers()))
	ctx, span := c.tracer.Start(ctx, "consume "+msg.Subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
			attribute.String("messaging.message.id", msg.ID),
		))
	return delivery{raw: m, msg: msg, ctx: ctx, span: span}
}

// processBatch applies the messages in one transaction and acknowledges
// them once it commits: one commit (and one flush of the log to disk) for
// the lot instead of one each. When the transaction fails, each message is
// applied again on its own, so one that cannot be applied neither holds up
// nor rolls back the others.
func (c *Consumer) processBatch(ctx context.Context, batch []jetstream.Msg) {
	ds := make([]delivery, len(batch))
	for i, m := range batch {
		ds[i] = c.deliver(ctx, m)
	}
	if len(ds) > 1 {
		err := pgdb.InTx(ctx, c.pool, func(tx pgx.Tx) error {
			for _, d := range ds {
				if err := c.applyIn(d.ctx, tx, d.msg); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, d := range ds {
				c.settle(d, nil)
			}
			return
		}
		if ctx.Err() != nil {
			c.endAll(ds)
			return
		}
	}
	for _, d := range ds {
		c.settle(d, c.apply(d.ctx, d.msg))
	}
}

// apply applies one message in a transaction of its own.
func (c *Consumer) apply(ctx context.Context, msg Message) error {
	return pgdb.InTx(ctx, c.pool, func(tx pgx.Tx) error { return c.applyIn(ctx, tx, msg) })
}

// settle acknowledges an applied message, terminates a poison one and
// schedules any other for redelivery; then it ends the message's span.
func (c *Consumer) settle(d delivery, err error) {
	ctx, msg, span := d.ctx, d.msg, d.span
	defer span.End()
	attrs := metric.WithAttributes(attribute.String("consumer", c.cfg.Durable), attribute.String("subject", msg.Subject))
	switch {
	case err == nil:
		c.applied.Add(ctx, 1, attrs)
		// Not waited for: the effect and its inbox row are committed, so a
		// lost acknowledgement only brings a redelivery the inbox drops.
		if ackErr := d.raw.Ack(); ackErr != nil {
			c.log.WarnContext(ctx, "ack", "consumer", c.cfg.Durable, "msg_id", msg.ID, "error", ackErr)
		}
	case errors.Is(err, ErrPoison):
		c.failed.Add(ctx, 1, attrs)
		span.SetStatus(codes.Error, "poison")
		c.log.ErrorContext(ctx, "terminating poison message", "consumer", c.cfg.Durable, "subject", msg.Subject, "msg_id", msg.ID, "error", err)
		_ = d.raw.Term()
	case ctx.Err() != nil:
		// Stopping: the message comes back after AckWait to whoever runs.
	default:
		c.failed.Add(ctx, 1, attrs)
		span.SetStatus(codes.Error, "retry")
		delay := backoff(msg.Delivered)
		c.log.WarnContext(ctx, "event not applied; will retry", "consumer", c.cfg.Durable, "subject", msg.Subject,
			"msg_id", msg.ID, "delivered", msg.Delivered, "retry_in", delay, "error", err)
		_ = d.raw.NakWithDelay(delay)
	}
}

func (c *Consumer) endAll(ds []delivery) {
	for _, d := range ds {
		d.span.End()
	}
}

// applyIn records the message id and runs the handler in tx; a message
// already in the inbox is a redelivery and has no second effect.
func (c *Consumer) applyIn(ctx context.Context, tx pgx.Tx, msg Message) error {
	tag, err := tx.Exec(ctx, `INSERT INTO inbox (msg_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		c.cfg.Durable+":"+msg.ID, msg.Subject)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return c.handle(ctx, tx, msg)
}

func backoff(delivered uint64) time.Duration {
	d := 100 * time.Millisecond << min(delivered, 8)
	return min(d, 30*time.Second)
}

func toMessage(m jetstream.Msg) Message {
	h := m.Headers()
	msg := Message{Subject: m.Subject(), Data: m.Data(), ID: h.Get(jetstream.MsgIDHeader), AggregateID: h.Get(HeaderAggregateID)}
	msg.Sequence, _ = strconv.ParseInt(h.Get(HeaderAggregateSeq), 10, 64)
	if meta, err := m.Metadata(); err == nil {
		msg.Delivered = meta.NumDelivered
		if msg.ID == "" {
			msg.ID = "seq-" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	return msg
}

type headerCarrier nats.Header

var _ propagation.TextMapCarrier = headerCarrier{}

func (h headerCarrier) Get(key string) string { return nats.Header(h).Get(key) }
func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
