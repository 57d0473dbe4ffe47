package translog

import (
	"context"
	"fmt"

	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
)

// enqueueSQL queues one leaf.
const enqueueSQL = `INSERT INTO log_queue (kind, workspace_id, sequence, artifact_sha256) VALUES ($1, $2, $3, $4)`

// Enqueue queues leaf for the sequencer in q's transaction: the artifact is
// logged if and only if its transaction commits. One INSERT, so the
// issuance path pays no more than a row for the log.
func Enqueue(ctx context.Context, q pgdb.Querier, leaf tlog.Leaf) error {
	sql, args, err := EnqueueStatement(leaf)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("queue %s for the issuance log: %w", leaf.Kind, err)
	}
	return nil
}

// EnqueueStatement is Enqueue's statement and arguments, for callers that
// send their writes as one batch (one round trip for all of them).
func EnqueueStatement(leaf tlog.Leaf) (string, []any, error) {
	if _, err := leaf.Data(); err != nil {
		return "", nil, err
	}
	return enqueueSQL, []any{string(leaf.Kind), leaf.WorkspaceID, leaf.Sequence, leaf.ArtifactSHA256}, nil
}
