package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const planColumns = `id, name, version, free, modules, definition, updated_at`

// scanPlan decodes and checks a plan row: a plan that cannot produce a valid
// license is a broken migration, reported as such rather than signed.
func scanPlan(row pgx.Row) (domain.Plan, error) {
	var p domain.Plan
	if err := row.Scan(&p.ID, &p.Name, &p.Version, &p.Free, &p.Modules, &p.DefinitionJSON, &p.UpdatedAt); err != nil {
		return p, err
	}
	def, err := domain.ParseDefinition(p.DefinitionJSON)
	if err != nil {
		return p, fmt.Errorf("plan %q: %w", p.ID, err)
	}
	p.Definition = def
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

func plans(ctx context.Context, q pgdb.Querier) ([]domain.Plan, error) {
	rows, err := q.Query(ctx, `SELECT `+planColumns+` FROM plans ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Plan, error) { return scanPlan(r) })
}

func plan(ctx context.Context, q pgdb.Querier, id string) (domain.Plan, error) {
	p, err := scanPlan(q.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE id = $1`, id))
	if pgdb.IsNoRows(err) {
		return p, fmt.Errorf("%w: %q", domain.ErrPlanNotFound, id)
	}
	return p, err
}

func defaultPlan(ctx context.Context, q pgdb.Querier) (domain.Plan, error) {
	p, err := scanPlan(q.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE is_default`))
	if pgdb.IsNoRows(err) {
		return p, fmt.Errorf("%w: no default plan", domain.ErrPlanNotFound)
	}
	return p, err
}
