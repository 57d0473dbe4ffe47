package store

import (
	"context"
	"time"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

func workspace(ctx context.Context, q pgdb.Querier, id string) (domain.Workspace, error) {
	w := domain.Workspace{ID: id}
	err := q.QueryRow(ctx, `SELECT customer_id, initial_plan_id, client_name, registered_at FROM workspaces WHERE workspace_id = $1`, id).
		Scan(&w.CustomerID, &w.InitialPlanID, &w.ClientName, &w.RegisteredAt)
	if pgdb.IsNoRows(err) {
		return w, domain.ErrWorkspaceNotFound
	}
	return w, err
}

// saveWorkspace keeps the first report of a workspace: the event and the
// registry describe the same registration, so a later one adds nothing.
func saveWorkspace(ctx context.Context, q pgdb.Querier, w domain.Workspace) error {
	registered := w.RegisteredAt
	if registered.IsZero() {
		registered = time.Now()
	}
	_, err := q.Exec(ctx, `INSERT INTO workspaces (workspace_id, customer_id, initial_plan_id, client_name, registered_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id) DO NOTHING`,
		w.ID, w.CustomerID, w.InitialPlanID, w.ClientName, registered)
	return err
}
