package translog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
)

// Sequencer appends queued leaves to the log. Any number of signer replicas
// run one; an advisory lock makes one of them the single writer of each
// batch, and the others find it taken and wait for their next turn.
type Sequencer struct {
	pool     *pgxpool.Pool
	keys     keys.Manager
	batch    int
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
}

// NewSequencer returns a sequencer that takes up to batch leaves per tree
// head and looks for queued leaves every interval (at once again after a
// full batch).
func NewSequencer(pool *pgxpool.Pool, km keys.Manager, batch int, interval time.Duration, log *slog.Logger) *Sequencer {
	return &Sequencer{pool: pool, keys: km, batch: max(1, batch), interval: interval, log: log, now: time.Now}
}

// Run sequences until ctx ends. A failed batch is logged and retried on
// the next tick: the queue keeps its leaves.
func (s *Sequencer) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		n, err := s.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.ErrorContext(ctx, "issuance log: sequencing failed", "error", err)
		case n == s.batch:
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sequencerLock is the advisory lock of the single writer.
var sequencerLock = pgdb.AdvisoryKey("issuance-log:sequencer")

type queued struct {
	id       int64
	leaf     tlog.Leaf
	queuedAt time.Time
}

// Once appends one batch of queued leaves and signs the new tree head, in
// one transaction: the leaves, their subtree hashes and the head commit
// together or not at all. It signs the empty tree's head the first time.
// It returns how many leaves it appended (0 when another replica holds the
// lock).
func (s *Sequencer) Once(ctx context.Context) (int, error) {
	var appended int
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		appended = 0
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sequencerLock).Scan(&mine); err != nil || !mine {
			return err
		}
		head, err := treeHead(ctx, tx, 0, true)
		empty := errors.Is(err, ErrEmptyLog)
		if err != nil && !empty {
			return err
		}
		batch, err := take(ctx, tx, s.batch)
		if err != nil || (len(batch) == 0 && !empty) {
			return err
		}
		if err := s.append(ctx, tx, head.Size, batch); err != nil {
			return err
		}
		appended = len(batch)
		return nil
	})
	return appended, err
}

// take removes up to n queued leaves, oldest first. Rows of transactions
// still open are invisible and wait for a later batch; removing what was
// taken (rather than reading past a position) means no late commit is
// ever skipped.
func take(ctx context.Context, tx pgx.Tx, n int) ([]queued, error) {
	rows, err := tx.Query(ctx, `DELETE FROM log_queue WHERE id IN (SELECT id FROM log_queue ORDER BY id LIMIT $1)
		RETURNING id, kind, workspace_id, sequence, artifact_sha256, queued_at`, n)
	if err != nil {
		return nil, fmt.Errorf("take queued leaves: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queued, error) {
		var q queued
		var kind string
		err := r.Scan(&q.id, &kind, &q.leaf.WorkspaceID, &q.leaf.Sequence, &q.leaf.ArtifactSHA256, &q.queuedAt)
		q.leaf.Kind = tlog.Kind(kind)
		return q, err
	})
	if err != nil {
		return nil, err
	}
	// DELETE ... RETURNING does not promise an order; the log's is the queue's.
	sortQueued(out)
	return out, nil
}

// append stores batch as the leaves from index size on, every subtree they
// complete, and the head of the grown tree.
func (s *Sequencer) append(ctx context.Context, tx pgx.Tx, size uint64, batch []queued) error {
	hashes := make([][]byte, len(batch))
	for i, q := range batch {
		h, err := q.leaf.Hash()
		if err != nil {
			return fmt.Errorf("queued leaf %d: %w", q.id, err)
		}
		hashes[i] = h
	}
	known, err := readNodes(ctx, tx, tlog.Frontier(size))
	if err != nil {
		return err
	}
	added, err := tlog.CompleteNodes(size, known, hashes)
	if err != nil {
		return err
	}
	for id, h := range added {
		known[id] = h
	}
	newSize := size + uint64(len(batch))
	root, err := tlog.Root(ctx, newSize, func(_ context.Context, ids []tlog.NodeID) (map[tlog.NodeID][]byte, error) { return known, nil })
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"log_leaves"},
		[]string{"leaf_index", "kind", "workspace_id", "sequence", "artifact_sha256", "leaf_hash", "queued_at", "sequenced_at"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			q := batch[i]
			return []any{int64(size) + int64(i), string(q.leaf.Kind), q.leaf.WorkspaceID, q.leaf.Sequence, q.leaf.ArtifactSHA256, hashes[i], q.queuedAt, now}, nil
		})); err != nil {
		return fmt.Errorf("store log leaves: %w", err)
	}
	ids := make([]tlog.NodeID, 0, len(added))
	for id := range added {
		ids = append(ids, id)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"log_nodes"}, []string{"level", "idx", "hash"},
		pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
			return []any{int16(ids[i].Level), int64(ids[i].Index), added[ids[i]]}, nil
		})); err != nil {
		return fmt.Errorf("store log nodes: %w", err)
	}
	key, err := s.keys.Active(ctx)
	if err != nil {
		return fmt.Errorf("tree head signing key: %w", err)
	}
	sth, err := tlog.SignTreeHead(tlog.TreeHead{Size: newSize, RootHash: root, Timestamp: now}, key.Signer, key.ID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO log_tree_heads (`+headColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		int64(sth.Size), sth.RootHash, sth.Timestamp, sth.KeyID, sth.JWS); err != nil {
		return fmt.Errorf("store tree head: %w", err)
	}
	return nil
}

func sortQueued(qs []queued) {
	slices.SortFunc(qs, func(a, b queued) int { return cmp.Compare(a.id, b.id) })
}
