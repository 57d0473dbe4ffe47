// Package store is the signer's SQL over its own schema: plans,
// workspaces, subscriptions and the append-only licenses.
package store

import (
	"context"
	"embed"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the signer's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Store reads and writes the signer schema. Reads outside a transaction go
// through it; writes that must commit together go through a Tx.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// InTx runs fn in a transaction (retried from the start on serialization
// failures, so fn must have no effect outside it).
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error { return fn(&Tx{q: tx}) })
}

// Plans returns every plan, by id.
func (s *Store) Plans(ctx context.Context) ([]domain.Plan, error) { return plans(ctx, s.pool) }

// Plan returns one plan.
func (s *Store) Plan(ctx context.Context, id string) (domain.Plan, error) {
	return plan(ctx, s.pool, id)
}

// PlanVersion returns one version of a plan.
func (s *Store) PlanVersion(ctx context.Context, id string, version int) (domain.Plan, error) {
	return planVersion(ctx, s.pool, id, version)
}

// PlanVersions returns every version of a plan, newest first.
func (s *Store) PlanVersions(ctx context.Context, id string) ([]domain.Plan, error) {
	return planVersions(ctx, s.pool, id)
}

// DefaultPlan returns the plan of workspaces whose registration named none.
func (s *Store) DefaultPlan(ctx context.Context) (domain.Plan, error) {
	return defaultPlan(ctx, s.pool)
}

// LatestLicense returns the workspace's newest license; found is false when
// it has none.
func (s *Store) LatestLicense(ctx context.Context, workspaceID string) (domain.License, bool, error) {
	return latestLicense(ctx, s.pool, workspaceID)
}

// Workspace returns what the signer knows of a workspace.
func (s *Store) Workspace(ctx context.Context, id string) (domain.Workspace, error) {
	return workspace(ctx, s.pool, id)
}

// SaveWorkspace stores w unless the workspace is known already.
func (s *Store) SaveWorkspace(ctx context.Context, w domain.Workspace) error {
	return saveWorkspace(ctx, s.pool, w)
}

// Licenses returns a workspace's licenses, newest first.
func (s *Store) Licenses(ctx context.Context, workspaceID string) ([]domain.License, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+licenseColumns+` FROM licenses WHERE workspace_id = $1 ORDER BY sequence DESC`, workspaceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.License, error) { return scanLicense(r) })
}
