// Package server is the sync service's gRPC surface: the authorization
// policy, request validation, the sync flow, and the mapping of domain errors
// to gRPC statuses.
package server

import (
	"context"
	"log/slog"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

// Policy says which roles may call each RPC (admin may call all).
var Policy = authn.Policy{
	syncv1.SyncService_Sync_FullMethodName:          {authn.RoleService},
	syncv1.SyncService_GetSyncView_FullMethodName:   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_GetUsage_FullMethodName:      {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_ListOverLimit_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
}

// Licenser gives a workspace a license bound to its address (the signer).
type Licenser interface {
	EnsureLicense(ctx context.Context, workspaceID, address string) (domain.License, error)
}

// Server implements syncv1.SyncServiceServer.
type Server struct {
	syncv1.UnimplementedSyncServiceServer
	store  *store.Store
	signer Licenser
	errs   rpcerr.Mapper
	log    *slog.Logger
}

// New returns the server.
func New(st *store.Store, signer Licenser, log *slog.Logger) *Server {
	return &Server{store: st, signer: signer, log: log, errs: newMapper(log)}
}

// GetSyncView implements the RPC.
func (s *Server) GetSyncView(ctx context.Context, req *syncv1.GetSyncViewRequest) (*syncv1.GetSyncViewResponse, error) {
	if err := domain.ValidateWorkspaceID(req.GetWorkspaceId()); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	v, err := s.store.View(ctx, req.GetWorkspaceId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &syncv1.GetSyncViewResponse{View: viewPB(v)}, nil
}
