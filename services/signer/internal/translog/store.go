package translog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
)

// Store reads the log.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns the log's reads over pool (pinned to the signer schema).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const headColumns = `tree_size, root_hash, signed_at, kid, jws`

func scanHead(row pgx.Row) (tlog.SignedTreeHead, error) {
	var h tlog.SignedTreeHead
	var size int64
	err := row.Scan(&size, &h.RootHash, &h.Timestamp, &h.KeyID, &h.JWS)
	h.Size, h.Timestamp = uint64(size), h.Timestamp.UTC()
	return h, err
}

// TreeHead returns the signed head of the tree of size leaves, or the
// latest when size is 0 and latest is true.
func (s *Store) TreeHead(ctx context.Context, size uint64, latest bool) (tlog.SignedTreeHead, error) {
	return treeHead(ctx, s.pool, size, latest)
}

func treeHead(ctx context.Context, q pgdb.Querier, size uint64, latest bool) (tlog.SignedTreeHead, error) {
	var h tlog.SignedTreeHead
	var err error
	if latest {
		h, err = scanHead(q.QueryRow(ctx, `SELECT `+headColumns+` FROM log_tree_heads ORDER BY tree_size DESC LIMIT 1`))
		if pgdb.IsNoRows(err) {
			return h, ErrEmptyLog
		}
		return h, err
	}
	h, err = scanHead(q.QueryRow(ctx, `SELECT `+headColumns+` FROM log_tree_heads WHERE tree_size = $1`, int64(size)))
	if pgdb.IsNoRows(err) {
		return h, fmt.Errorf("%w: %d", ErrTreeHeadNotFound, size)
	}
	return h, err
}

// Nodes is a tlog.NodeReader over the stored complete subtrees, one query
// for any number of them.
func (s *Store) Nodes(ctx context.Context, ids []tlog.NodeID) (map[tlog.NodeID][]byte, error) {
	return readNodes(ctx, s.pool, ids)
}

func readNodes(ctx context.Context, q pgdb.Querier, ids []tlog.NodeID) (map[tlog.NodeID][]byte, error) {
	out := make(map[tlog.NodeID][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	levels, idxs := make([]int16, len(ids)), make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idxs[i] = int16(id.Level), int64(id.Index)
	}
	rows, err := q.Query(ctx, `SELECT n.level, n.idx, n.hash FROM log_nodes n
		JOIN unnest($1::smallint[], $2::bigint[]) AS want(level, idx) ON n.level = want.level AND n.idx = want.idx`, levels, idxs)
	if err != nil {
		return nil, fmt.Errorf("read log nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level int16
		var idx int64
		var h []byte
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return nil, err
		}
		out[tlog.NodeID{Level: uint8(level), Index: uint64(idx)}] = h
	}
	return out, rows.Err()
}

const entryColumns = `leaf_index, kind, workspace_id, sequence, artifact_sha256, leaf_hash, queued_at, sequenced_at`

func scanEntry(row pgx.Row) (Entry, error) {
	var e Entry
	var idx int64
	var kind string
	err := row.Scan(&idx, &kind, &e.Leaf.WorkspaceID, &e.Leaf.Sequence, &e.Leaf.ArtifactSHA256, &e.LeafHash, &e.QueuedAt, &e.SequencedAt)
	e.Index, e.Leaf.Kind = uint64(idx), tlog.Kind(kind)
	e.QueuedAt, e.SequencedAt = e.QueuedAt.UTC(), e.SequencedAt.UTC()
	return e, err
}

// EntryByHash returns the first leaf with this leaf hash.
func (s *Store) EntryByHash(ctx context.Context, leafHash []byte) (Entry, error) {
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM log_leaves WHERE leaf_hash = $1 ORDER BY leaf_index LIMIT 1`, leafHash))
	if pgdb.IsNoRows(err) {
		return e, ErrLeafNotFound
	}
	return e, err
}

// LicenseEntry returns the leaf of a workspace's license; ErrNotSequenced
// while it waits in the queue.
func (s *Store) LicenseEntry(ctx context.Context, workspaceID string, sequence int64) (Entry, error) {
	find := func() (Entry, error) {
		return scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM log_leaves
			WHERE workspace_id = $1 AND sequence = $2 AND kind = 'license' ORDER BY leaf_index LIMIT 1`, workspaceID, sequence))
	}
	e, err := find()
	if !pgdb.IsNoRows(err) {
		return e, err
	}
	var queued bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM log_queue WHERE workspace_id = $1 AND sequence = $2 AND kind = 'license')`,
		workspaceID, sequence).Scan(&queued); err != nil {
		return e, err
	}
	if queued {
		return e, ErrNotSequenced
	}
	// The sequencer may have moved it from the queue to the leaves between
	// the two reads (it does both in one commit), so look once more.
	e, err = find()
	if pgdb.IsNoRows(err) {
		return e, ErrLeafNotFound
	}
	return e, err
}

// Entries returns the leaves [start, end).
func (s *Store) Entries(ctx context.Context, start, end uint64) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM log_leaves WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index`,
		int64(start), int64(end))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) { return scanEntry(r) })
}
