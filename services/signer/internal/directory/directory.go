// Package directory asks the registry about workspaces the signer has not
// heard of yet, so a sync that outruns the workspace.registered event still
// gets its license.
package directory

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// Registry implements issuance.Registry over gRPC.
type Registry struct {
	client registryv1.RegistryServiceClient
}

// NewRegistry returns the registry behind client.
func NewRegistry(client registryv1.RegistryServiceClient) *Registry { return &Registry{client: client} }

// Workspace implements issuance.Registry.
func (r *Registry) Workspace(ctx context.Context, id string) (domain.Workspace, error) {
	resp, err := r.client.GetWorkspace(ctx, &registryv1.GetWorkspaceRequest{Id: id})
	if rpcerr.Code(err) == codes.NotFound {
		return domain.Workspace{}, domain.ErrWorkspaceNotFound
	}
	if err != nil {
		// The registry's status (Unavailable, ...) passes through to the caller.
		return domain.Workspace{}, fmt.Errorf("ask the registry for workspace %s: %w", id, err)
	}
	w := resp.GetWorkspace()
	return domain.Workspace{
		ID: w.GetId(), CustomerID: w.GetCustomerId(), InitialPlanID: w.GetInitialPlanId(),
		ClientName: w.GetClientName(), RegisteredAt: registeredAt(w),
	}, nil
}

// registeredAt leaves an unset time zero (the store then records now) rather
// than the Unix epoch.
func registeredAt(w *registryv1.Workspace) time.Time {
	if w.GetRegisteredAt() == nil {
		return time.Time{}
	}
	return w.GetRegisteredAt().AsTime()
}
