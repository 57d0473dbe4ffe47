package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const releaseColumns = `version, released_at, support_months, updated_at`

func scanRelease(row pgx.Row) (domain.Release, error) {
	var r domain.Release
	var months *int
	err := row.Scan(&r.Version, &r.ReleasedAt, &months, &r.UpdatedAt)
	r.ReleasedAt, r.UpdatedAt = r.ReleasedAt.UTC(), r.UpdatedAt.UTC()
	if months != nil {
		r.SupportMonths = *months
	}
	return r, err
}

// Releases returns every recorded release.
func (s *Store) Releases(ctx context.Context) ([]domain.Release, error) { return releases(ctx, s.pool) }

// Releases returns every recorded release, in the transaction.
func (t *Tx) Releases(ctx context.Context) ([]domain.Release, error) { return releases(ctx, t.q) }

// VersionPolicy returns the version policy, in the transaction.
func (t *Tx) VersionPolicy(ctx context.Context) (domain.VersionPolicy, error) {
	return versionPolicy(ctx, t.q)
}

func releases(ctx context.Context, q pgdb.Querier) ([]domain.Release, error) {
	rows, err := q.Query(ctx, `SELECT `+releaseColumns+` FROM releases ORDER BY released_at, version`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Release, error) { return scanRelease(r) })
}

// RecordRelease adds r, or replaces the release date and support window of
// the release with its version (a zero window follows the policy's
// default). updated_at moves only when something changed, so recording the
// same release again leaves the document as it was; a change is announced
// with licensing.supportedversions.changed.v1 in the same transaction.
func (s *Store) RecordRelease(ctx context.Context, r domain.Release) (domain.Release, error) {
	var months *int
	if r.SupportMonths > 0 {
		months = &r.SupportMonths
	}
	var out domain.Release
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var changed bool
		var months2 *int
		err := tx.QueryRow(ctx, `
INSERT INTO releases (version, released_at, support_months) VALUES ($1, $2, $3)
ON CONFLICT (version) DO UPDATE SET
    released_at    = EXCLUDED.released_at,
    support_months = EXCLUDED.support_months,
    updated_at     = CASE WHEN releases.released_at = EXCLUDED.released_at AND releases.support_months IS NOT DISTINCT FROM EXCLUDED.support_months
                          THEN releases.updated_at ELSE now() END
RETURNING `+releaseColumns+`, updated_at = now()`, r.Version, r.ReleasedAt, months).Scan(&out.Version, &out.ReleasedAt, &months2, &out.UpdatedAt, &changed)
		if err != nil {
			return err
		}
		out.ReleasedAt, out.UpdatedAt = out.ReleasedAt.UTC(), out.UpdatedAt.UTC()
		if months2 != nil {
			out.SupportMonths = *months2
		}
		if !changed {
			return nil
		}
		return recordVersionsChanged(ctx, tx, "release")
	})
	return out, err
}
