package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const planColumns = `id, name, version, free, modules, definition, is_default, updated_at`

// planVersionColumns reads a plan_versions row v in planColumns' order.
const planVersionColumns = `v.plan_id, v.name, v.version, v.free, v.modules, v.definition, p.is_default, v.created_at`

// scanPlan decodes and checks a plan row: a plan that cannot produce a valid
// license is a broken migration, reported as such rather than signed.
func scanPlan(row pgx.Row) (domain.Plan, error) {
	var p domain.Plan
	if err := row.Scan(&p.ID, &p.Name, &p.Version, &p.Free, &p.Modules, &p.DefinitionJSON, &p.IsDefault, &p.UpdatedAt); err != nil {
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

// planVersion reads one version of a plan. Versions never change, so
// callers may cache what it returns.
func planVersion(ctx context.Context, q pgdb.Querier, id string, version int) (domain.Plan, error) {
	p, err := scanPlan(q.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v JOIN plans p ON p.id = v.plan_id
		WHERE v.plan_id = $1 AND v.version = $2`, id, version))
	if pgdb.IsNoRows(err) {
		return p, fmt.Errorf("%w: %q version %d", domain.ErrPlanNotFound, id, version)
	}
	return p, err
}

// planVersions lists every version of a plan, newest first.
func planVersions(ctx context.Context, q pgdb.Querier, id string) ([]domain.Plan, error) {
	rows, err := q.Query(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v JOIN plans p ON p.id = v.plan_id
		WHERE v.plan_id = $1 ORDER BY v.version DESC`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Plan, error) { return scanPlan(r) })
}

// CreatePlan stores p as version 1 of a new plan; domain.ErrPlanExists when
// the id is taken.
func (t *Tx) CreatePlan(ctx context.Context, p domain.Plan) error {
	tag, err := t.q.Exec(ctx, `INSERT INTO plans (id, name, version, free, modules, definition, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Name, p.Version, p.Free, nonNil(p.Modules), p.DefinitionJSON, p.UpdatedAt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", domain.ErrPlanExists, p.ID)
	}
	return t.insertPlanVersion(ctx, p)
}

// LockPlan returns a plan's current version and holds its row until the
// transaction ends, so two publishers cannot both take the next version.
func (t *Tx) LockPlan(ctx context.Context, id string) (domain.Plan, error) {
	p, err := scanPlan(t.q.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE id = $1 FOR UPDATE`, id))
	if pgdb.IsNoRows(err) {
		return p, fmt.Errorf("%w: %q", domain.ErrPlanNotFound, id)
	}
	return p, err
}

// PublishPlanVersion stores p, the next version of a plan locked with
// LockPlan, and makes it current.
func (t *Tx) PublishPlanVersion(ctx context.Context, p domain.Plan) error {
	if err := t.insertPlanVersion(ctx, p); err != nil {
		return err
	}
	_, err := t.q.Exec(ctx, `UPDATE plans SET name = $2, version = $3, modules = $4, definition = $5, updated_at = $6 WHERE id = $1`,
		p.ID, p.Name, p.Version, nonNil(p.Modules), p.DefinitionJSON, p.UpdatedAt)
	return err
}

func (t *Tx) insertPlanVersion(ctx context.Context, p domain.Plan) error {
	_, err := t.q.Exec(ctx, `INSERT INTO plan_versions (plan_id, version, name, free, modules, definition, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.Version, p.Name, p.Free, nonNil(p.Modules), p.DefinitionJSON, p.UpdatedAt)
	return err
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
