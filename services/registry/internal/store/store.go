// Package store is the registry's SQL over its own schema.
package store

import (
	"context"
	"embed"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the registry's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Store reads and writes the registry schema.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// CreateCustomer stores a customer; contactEmail may be empty.
func (s *Store) CreateCustomer(ctx context.Context, name, contactEmail string) (domain.Customer, error) {
	return createCustomer(ctx, s.pool, name, contactEmail)
}

func createCustomer(ctx context.Context, q pgdb.Querier, name, contactEmail string) (domain.Customer, error) {
	c := domain.Customer{ID: domain.NewCustomerID(), Name: name, ContactEmail: contactEmail}
	err := q.QueryRow(ctx, `INSERT INTO customers (id, name, contact_email) VALUES ($1, $2, $3) RETURNING created_at`, c.ID, name, contactEmail).Scan(&c.CreatedAt)
	return c, err
}

// Customer returns one customer.
func (s *Store) Customer(ctx context.Context, id string) (domain.Customer, error) {
	c := domain.Customer{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT name, contact_email, created_at FROM customers WHERE id = $1`, id).Scan(&c.Name, &c.ContactEmail, &c.CreatedAt)
	if pgdb.IsNoRows(err) {
		return c, domain.ErrCustomerNotFound
	}
	return c, err
}

const workspaceColumns = `id, coalesce(customer_id, ''), state, client_name, contact_email, initial_plan_id, unique_id, address, version, registered_at, last_synced_at`

func scanWorkspace(row pgx.Row) (domain.Workspace, error) {
	var w domain.Workspace
	err := row.Scan(&w.ID, &w.CustomerID, &w.State, &w.ClientName, &w.ContactEmail, &w.InitialPlanID, &w.UniqueID, &w.Address, &w.Version, &w.RegisteredAt, &w.LastSyncedAt)
	return w, err
}

// CreateRegisteredWorkspace stores a workspace that redeemed a token (or
// registered offline) and records workspace.registered in the same
// transaction.
func (s *Store) CreateRegisteredWorkspace(ctx context.Context, w domain.Workspace) (domain.Workspace, error) {
	var out domain.Workspace
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanWorkspace(tx.QueryRow(ctx, `INSERT INTO workspaces (id, customer_id, state, client_name, contact_email, initial_plan_id, unique_id, address, version, event_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) RETURNING `+workspaceColumns,
			w.ID, w.CustomerID, domain.StateRegistered, w.ClientName, w.ContactEmail, w.InitialPlanID, w.UniqueID, w.Address, w.Version))
		if pgdb.IsForeignKeyViolation(err) {
			return domain.ErrCustomerNotFound
		}
		if err != nil {
			return err
		}
		payload, err := proto.Marshal(&eventsv1.WorkspaceRegistered{
			WorkspaceId: out.ID, CustomerId: out.CustomerID, PlanId: out.InitialPlanID,
			ClientName: out.ClientName, RegisteredAt: timestamppb.New(out.RegisteredAt),
		})
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, events.Event{Subject: events.SubjectWorkspaceRegistered, AggregateID: out.ID, Sequence: 1, Payload: payload})
	})
	return out, err
}

// Workspace returns one workspace.
func (s *Store) Workspace(ctx context.Context, id string) (domain.Workspace, error) {
	w, err := scanWorkspace(s.pool.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`, id))
	if pgdb.IsNoRows(err) {
		return w, domain.ErrWorkspaceNotFound
	}
	return w, err
}

// Workspaces lists workspaces, of one customer when customerID is set.
func (s *Store) Workspaces(ctx context.Context, customerID string, limit int) ([]domain.Workspace, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+workspaceColumns+` FROM workspaces
		WHERE ($1 = '' OR customer_id = $1) ORDER BY registered_at DESC, id LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Workspace, error) { return scanWorkspace(r) })
}

// RecordSync applies a workspace.synced event: the last reported unique id,
// version and address. Older reports than the stored one change nothing, so a
// redelivered or reordered event is harmless.
func (s *Store) RecordSync(ctx context.Context, tx pgx.Tx, e *eventsv1.WorkspaceSynced) error {
	_, err := tx.Exec(ctx, `UPDATE workspaces SET unique_id = $2, address = $3, version = $4, last_synced_at = $5
		WHERE id = $1 AND (last_synced_at IS NULL OR last_synced_at < $5)`,
		e.GetWorkspaceId(), e.GetUniqueId(), e.GetAddress(), e.GetVersion(), e.GetSyncedAt().AsTime().UTC().Truncate(time.Microsecond))
	return err
}
