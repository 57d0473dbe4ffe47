package translog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
)

// keysetLock serialises replicas that start at once, so a keyset change is
// queued once.
var keysetLock = pgdb.AdvisoryKey("issuance-log:keyset")

// LogKeyset queues the license keyset (its JWKS, as verifiers fetch it)
// unless the newest keyset the log holds or waits for is the same: each
// change of the keys that sign licenses and tree heads becomes a leaf,
// numbered from 1. The signer calls it at start; KeysetHook logs each
// change as it commits.
func LogKeyset(ctx context.Context, pool *pgxpool.Pool, km keys.Manager) (logged bool, err error) {
	pubs, err := km.PublicKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("keyset: %w", err)
	}
	err = pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
		logged, err = logJWKS(ctx, tx, pubs)
		return err
	})
	return logged, err
}

// KeysetHook logs a keyset change in the change's own transaction: the
// keys that verify after it, as the JWKS publishes them.
func KeysetHook(ctx context.Context, tx pgx.Tx, c keyset.Change) error {
	var pubs []keys.PublicKey
	for _, k := range c.Keys {
		if k.State.Verifies() && (k.NotAfter.IsZero() || c.At.Before(k.NotAfter)) {
			pubs = append(pubs, k.PublicKey())
		}
	}
	_, err := logJWKS(ctx, tx, pubs)
	return err
}

// logJWKS queues the JWKS of pubs in tx unless it is the newest keyset
// the log holds or waits for.
func logJWKS(ctx context.Context, tx pgx.Tx, pubs []keys.PublicKey) (bool, error) {
	jwks, err := keys.JWKS(pubs)
	if err != nil {
		return false, fmt.Errorf("keyset: %w", err)
	}
	leaf := tlog.Leaf{Kind: tlog.KindKeyset, ArtifactSHA256: tlog.ArtifactHash(string(jwks))}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keysetLock); err != nil {
		return false, err
	}
	var last []byte
	var count int64
	err = tx.QueryRow(ctx, `
SELECT (SELECT artifact_sha256 FROM (
            SELECT artifact_sha256, sequence FROM log_queue  WHERE kind = 'keyset'
            UNION ALL
            SELECT artifact_sha256, sequence FROM log_leaves WHERE kind = 'keyset') k
        ORDER BY sequence DESC LIMIT 1),
       (SELECT count(*) FROM log_queue WHERE kind = 'keyset') + (SELECT count(*) FROM log_leaves WHERE kind = 'keyset')`).Scan(&last, &count)
	if err != nil || string(last) == string(leaf.ArtifactSHA256) {
		return false, err
	}
	leaf.Sequence = count + 1
	return true, Enqueue(ctx, tx, leaf)
}
