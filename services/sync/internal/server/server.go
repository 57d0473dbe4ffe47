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
	"github.com/cloudlicense/authority/services/sync/internal/watch"
)

// Policy says which roles may call each RPC (admin may call all).
var Policy = authn.Policy{
	syncv1.SyncService_Sync_FullMethodName:          {authn.RoleService},
	syncv1.SyncService_GetSyncView_FullMethodName:   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_GetUsage_FullMethodName:      {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_ListOverLimit_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
	// Watching is the operators' feed; each watcher holds a stream and a
	// buffer on the replica, so the other readers do not get it.
	syncv1.SyncService_Watch_FullMethodName: {authn.RoleOperatorRead},
}

// Licenser gives a workspace a license bound to its address (the signer).
type Licenser interface {
	EnsureLicense(ctx context.Context, workspaceID, address string) (domain.License, error)
}

// VersionGate refuses a workspace whose version is no longer supported
// (domain.ErrUnsupportedVersion). It decides from memory: it is on every
// sync.
type VersionGate interface {
	Check(ctx context.Context, workspaceID, version string) error
}

// Server implements syncv1.SyncServiceServer.
type Server struct {
	syncv1.UnimplementedSyncServiceServer
	store    *store.Store
	signer   Licenser
	errs     rpcerr.Mapper
	log      *slog.Logger
	versions VersionGate
	// hub serves Watch; without one Watch answers UNAVAILABLE.
	hub *watch.Hub
}

// Option configures the server.
type Option func(*Server)

// WithHub serves Watch from hub.
func WithHub(hub *watch.Hub) Option { return func(s *Server) { s.hub = hub } }

// New returns the server.
func New(st *store.Store, signer Licenser, log *slog.Logger, opts ...Option) *Server {
	s := &Server{store: st, signer: signer, log: log, errs: newMapper(log)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// WithVersionGate makes Sync refuse the versions g refuses, before anything
// is written.
func WithVersionGate(g VersionGate) Option { return func(s *Server) { s.versions = g } }

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
