package watch

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/cloudlicense/authority/pkg/pgdb"
)

// NumberedSubject is the core NATS subject on which the sequencer says it
// numbered changes (the payload is the new head), so every replica's hub
// reads the feed at once instead of at its next poll. It is outside
// licensing.>: a wake-up is not an event to keep in the stream.
const NumberedSubject = "sync.watch.numbered"

// Numberer is the part of the store the sequencer uses.
type Numberer interface {
	NumberChanges(ctx context.Context, q pgdb.Querier, limit int) (int, int64, error)
	PruneChanges(ctx context.Context, q pgdb.Querier, keep time.Duration) (bool, error)
}

// SequencerConfig tunes the sequencer; zero values take the defaults.
type SequencerConfig struct {
	// Interval between looks for committed changes to number (default
	// 10ms). It is the feed's added latency; an idle look is one index probe.
	Interval time.Duration
	// Retention is how long numbered changes are kept for resuming watchers
	// (default 1h); older ones are pruned and resuming before them is
	// REVISION_TOO_OLD.
	Retention time.Duration
}

func (c SequencerConfig) withDefaults() SequencerConfig {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Millisecond
	}
	if c.Retention <= 0 {
		c.Retention = time.Hour
	}
	return c
}

// Sequencer numbers committed changes. Every replica runs one; the one
// holding a session advisory lock works, the others wait to take over (the
// lock goes with its holder's connection, so a crashed leader frees it).
type Sequencer struct {
	pool  *pgxpool.Pool
	store Numberer
	nc    *nats.Conn
	cfg   SequencerConfig
	log   *slog.Logger
	// local is this replica's hub, woken directly.
	local *Hub
}

// NewSequencer returns a sequencer; nc may be nil (the hubs then poll).
func NewSequencer(pool *pgxpool.Pool, st Numberer, nc *nats.Conn, local *Hub, cfg SequencerConfig, log *slog.Logger) *Sequencer {
	return &Sequencer{pool: pool, store: st, nc: nc, local: local, cfg: cfg.withDefaults(), log: log}
}

// sequencerLock is the advisory lock key; the schema name keeps two
// deployments sharing one database apart.
const sequencerLock = `hashtextextended(current_schema() || '.view_changes sequencer', 0)`

const numberBatch = 1000

// Run works as the sequencer whenever this replica holds the lock, until ctx
// ends.
func (s *Sequencer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := s.lead(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "watch sequencer", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}

// lead takes the lock if it is free and numbers changes while it holds it.
func (s *Sequencer) lead(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection carries the session lock; it goes back to the pool
	// only after an unlock, and is closed on any error, which frees it.
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+sequencerLock+`)`).Scan(&got); err != nil {
		conn.Conn().Close(context.Background())
		conn.Release()
		return err
	}
	if !got {
		conn.Release()
		return nil
	}
	s.log.InfoContext(ctx, "watch sequencer: leading")
	err = s.number(ctx, conn)
	if err == nil || ctx.Err() != nil {
		_, uerr := conn.Exec(context.Background(), `SELECT pg_advisory_unlock(`+sequencerLock+`)`)
		if uerr == nil {
			conn.Release()
			return err
		}
	}
	conn.Conn().Close(context.Background())
	conn.Release()
	return err
}

func (s *Sequencer) number(ctx context.Context, conn *pgxpool.Conn) error {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		n, head, err := s.store.NumberChanges(ctx, conn, numberBatch)
		if err != nil {
			return err
		}
		if n > 0 {
			s.local.Wake()
			if s.nc != nil {
				// Best effort: a lost notice costs a replica one poll.
				_ = s.nc.Publish(NumberedSubject, []byte(strconv.FormatInt(head, 10)))
			}
			if n == numberBatch {
				continue
			}
		}
		if time.Since(lastPrune) > time.Minute {
			if _, err := s.store.PruneChanges(ctx, conn, s.cfg.Retention); err != nil {
				return err
			}
			lastPrune = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Listen wakes hub whenever any replica's sequencer numbered changes. The
// subscription ends with the connection.
func Listen(nc *nats.Conn, hub *Hub) (*nats.Subscription, error) {
	return nc.Subscribe(NumberedSubject, func(*nats.Msg) { hub.Wake() })
}
