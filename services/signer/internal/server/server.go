// Package server is the signer's gRPC surface: the authorization policy,
// request checks, and the mapping of domain errors to gRPC codes.
package server

import (
	"context"
	"log/slog"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Policy says which roles may call each RPC (admin may call all).
var Policy = authn.Policy{
	signerv1.SignerService_ListPlans_FullMethodName:           {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_GetPlan_FullMethodName:             {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_EnsureLicense_FullMethodName:       {authn.RoleService},
	signerv1.SignerService_ListLicenses_FullMethodName:        {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
	signerv1.SignerService_GetLicensePublicKey_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
}

// Server implements signerv1.SignerServiceServer.
type Server struct {
	signerv1.UnimplementedSignerServiceServer
	store    *store.Store
	issuance *issuance.Service
	keys     keys.Manager
	errs     rpcerr.Mapper
}

// New returns the server.
func New(st *store.Store, iss *issuance.Service, km keys.Manager, log *slog.Logger) *Server {
	return &Server{store: st, issuance: iss, keys: km, errs: newMapper(log)}
}

// ListPlans implements the RPC.
func (s *Server) ListPlans(ctx context.Context, _ *signerv1.ListPlansRequest) (*signerv1.ListPlansResponse, error) {
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &signerv1.ListPlansResponse{}
	for _, p := range plans {
		resp.Plans = append(resp.Plans, planPB(p))
	}
	return resp, nil
}

// GetPlan implements the RPC.
func (s *Server) GetPlan(ctx context.Context, req *signerv1.GetPlanRequest) (*signerv1.GetPlanResponse, error) {
	if req.GetId() == "" {
		return nil, s.errs.Map(ctx, validate.Field("id", "required"))
	}
	p, err := s.store.Plan(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.GetPlanResponse{Plan: planPB(p)}, nil
}

// EnsureLicense implements the RPC.
func (s *Server) EnsureLicense(ctx context.Context, req *signerv1.EnsureLicenseRequest) (*signerv1.EnsureLicenseResponse, error) {
	l, issued, err := s.issuance.Ensure(ctx, req.GetWorkspaceId(), req.GetAddress())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.EnsureLicenseResponse{License: licensePB(l), Issued: issued}, nil
}

// ListLicenses implements the RPC. A workspace the signer never issued to
// has an empty history.
func (s *Server) ListLicenses(ctx context.Context, req *signerv1.ListLicensesRequest) (*signerv1.ListLicensesResponse, error) {
	if err := domain.CheckWorkspaceID(req.GetWorkspaceId()); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	ls, err := s.store.Licenses(ctx, req.GetWorkspaceId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &signerv1.ListLicensesResponse{}
	for _, l := range ls {
		resp.Licenses = append(resp.Licenses, licensePB(l))
	}
	return resp, nil
}

// GetLicensePublicKey implements the RPC.
func (s *Server) GetLicensePublicKey(ctx context.Context, _ *signerv1.GetLicensePublicKeyRequest) (*signerv1.GetLicensePublicKeyResponse, error) {
	key, err := s.keys.Active(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	pub := key.Public()
	return &signerv1.GetLicensePublicKeyResponse{Kid: key.ID, PublicKeyPem: keys.PublicKeyPEM(pub), PublicKeyV2: keys.PublicKeyV2(pub)}, nil
}
