package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const releaseColumns = `version, released_at, support_months, updated_at`

func scanRelease(row pgx.Row) (domain.Release, error) {
	var r domain.Release
	err := row.Scan(&r.Version, &r.ReleasedAt, &r.SupportMonths, &r.UpdatedAt)
	r.ReleasedAt, r.UpdatedAt = r.ReleasedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// Releases returns every recorded release.
func (s *Store) Releases(ctx context.Context) ([]domain.Release, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+releaseColumns+` FROM releases ORDER BY released_at, version`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Release, error) { return scanRelease(r) })
}

// RecordRelease adds r, or replaces the release date and support window of
// the release with its version. updated_at moves only when something
// changed, so recording the same release again leaves the document as it
// was.
func (s *Store) RecordRelease(ctx context.Context, r domain.Release) (domain.Release, error) {
	return scanRelease(s.pool.QueryRow(ctx, `
INSERT INTO releases (version, released_at, support_months) VALUES ($1, $2, $3)
ON CONFLICT (version) DO UPDATE SET
    released_at    = EXCLUDED.released_at,
    support_months = EXCLUDED.support_months,
    updated_at     = CASE WHEN releases.released_at = EXCLUDED.released_at AND releases.support_months = EXCLUDED.support_months
                          THEN releases.updated_at ELSE now() END
RETURNING `+releaseColumns, r.Version, r.ReleasedAt, r.SupportMonths))
}
