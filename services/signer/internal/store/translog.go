package store

import (
	"context"

	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
)

// LogArtifact queues a signed artifact that has no transaction of its own
// (a supported-versions document signed for a request) for the issuance log.
func (s *Store) LogArtifact(ctx context.Context, leaf tlog.Leaf) error {
	return translog.Enqueue(ctx, s.pool, leaf)
}

// LogArtifact queues a signed artifact for the issuance log in the
// transaction that signed it.
func (t *Tx) LogArtifact(ctx context.Context, leaf tlog.Leaf) error {
	return translog.Enqueue(ctx, t.q, leaf)
}
