// Package translog keeps the signer's issuance log in Postgres: the queue
// that issuance writes one row to, the sequencer that turns queued rows into
// leaves, complete subtree hashes and a signed tree head per batch, and the
// reads that serve tree heads, proofs and entries. The hashing, proofs and
// their verification are pkg/translog's.
package translog

import (
	"errors"
	"time"

	tlog "github.com/cloudlicense/authority/pkg/translog"
)

// Errors of the log's reads.
var (
	// ErrLeafNotFound reports an artifact the log has never had.
	ErrLeafNotFound = errors.New("no such leaf in the issuance log")
	// ErrNotSequenced reports a leaf that is queued but has no index yet;
	// the sequencer gives it one within moments.
	ErrNotSequenced = errors.New("the leaf is queued and not yet in the issuance log; retry shortly")
	// ErrTreeHeadNotFound reports a tree size no head was signed for.
	ErrTreeHeadNotFound = errors.New("no signed tree head of that size")
	// ErrEmptyLog reports a log that has no tree head yet.
	ErrEmptyLog = errors.New("the issuance log has no signed tree head yet")
)

// Entry is a sequenced leaf.
type Entry struct {
	Index       uint64
	Leaf        tlog.Leaf
	LeafHash    []byte
	QueuedAt    time.Time
	SequencedAt time.Time
}
