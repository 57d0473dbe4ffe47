// Package server is the signer's gRPC surface: the authorization policy,
// request checks, and the mapping of domain errors to gRPC codes.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Policy says which roles may call each RPC of every service the signer
// serves (admin may call all; an empty list is admin only).
var Policy = authn.Policy{
	signerv1.SignerService_ListPlans_FullMethodName:            {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_GetPlan_FullMethodName:              {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_CreatePlan_FullMethodName:           {},
	signerv1.SignerService_PublishPlanVersion_FullMethodName:   {},
	signerv1.SignerService_EnsureLicense_FullMethodName:        {authn.RoleService},
	signerv1.SignerService_ListLicenses_FullMethodName:         {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_IssueOfflineLicense_FullMethodName:  {authn.RoleSupport, authn.RoleService},
	signerv1.SignerService_GetLicensePublicKey_FullMethodName:  {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_GetSupportedVersions_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_RecordRelease_FullMethodName:        {},

	signerv1.VersionPolicyService_GetVersionPolicy_FullMethodName:       {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.VersionPolicyService_SetVersionPolicy_FullMethodName:       {},
	signerv1.VersionPolicyService_AddVersionException_FullMethodName:    {authn.RoleSupport},
	signerv1.VersionPolicyService_RemoveVersionException_FullMethodName: {authn.RoleSupport},
	signerv1.VersionPolicyService_ListVersionExceptions_FullMethodName:  {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
	signerv1.VersionPolicyService_CheckVersion_FullMethodName:           {authn.RoleService},
	keysv1.KeyService_ListKeys_FullMethodName:                           {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	keysv1.KeyService_RotateKeys_FullMethodName:                         {},
	keysv1.KeyService_ImportKey_FullMethodName:                          {},
	keysv1.KeyService_RevokeKey_FullMethodName:                          {},
	keysv1.KeyService_StartResign_FullMethodName:                        {},
	keysv1.KeyService_GetResignJob_FullMethodName:                       {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},

	signerv1.SubscriptionService_GrantSubscription_FullMethodName:     {authn.RoleBilling},
	signerv1.SubscriptionService_StartTrial_FullMethodName:            {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	signerv1.SubscriptionService_ExtendTrial_FullMethodName:           {authn.RoleSupport},
	signerv1.SubscriptionService_ConvertTrial_FullMethodName:          {authn.RoleBilling},
	signerv1.SubscriptionService_RenewSubscription_FullMethodName:     {authn.RoleBilling},
	signerv1.SubscriptionService_CancelSubscription_FullMethodName:    {authn.RoleBilling, authn.RoleService},
	signerv1.SubscriptionService_SuspendSubscription_FullMethodName:   {authn.RoleSupport},
	signerv1.SubscriptionService_ReinstateSubscription_FullMethodName: {authn.RoleSupport},
	signerv1.SubscriptionService_GetEntitlement_FullMethodName:        {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
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
	if req.GetVersion() < 0 {
		return nil, s.errs.Map(ctx, validate.Field("version", "must be >= 0"))
	}
	var p domain.Plan
	var err error
	if req.GetVersion() == 0 {
		p, err = s.store.Plan(ctx, req.GetId())
	} else {
		p, err = s.store.PlanVersion(ctx, req.GetId(), int(req.GetVersion()))
	}
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.GetPlanResponse{Plan: planPB(p)}, nil
}

// CreatePlan implements the RPC.
func (s *Server) CreatePlan(ctx context.Context, req *signerv1.CreatePlanRequest) (*signerv1.CreatePlanResponse, error) {
	p, err := s.issuance.CreatePlan(ctx, idempotency(signerv1.SignerService_CreatePlan_FullMethodName, req), domain.Plan{
		ID: req.GetId(), Name: req.GetName(), Free: req.GetFree(), Modules: req.GetModules(), DefinitionJSON: []byte(req.GetDefinitionJson()),
	})
	if err != nil {
		return nil, s.errs.Map(ctx, planErrors(err))
	}
	return &signerv1.CreatePlanResponse{Plan: planPB(p)}, nil
}

// PublishPlanVersion implements the RPC.
func (s *Server) PublishPlanVersion(ctx context.Context, req *signerv1.PublishPlanVersionRequest) (*signerv1.PublishPlanVersionResponse, error) {
	if req.GetExpectedVersion() < 0 {
		return nil, s.errs.Map(ctx, validate.Field("expected_version", "must be >= 0"))
	}
	p, err := s.issuance.PublishPlanVersion(ctx, idempotency(signerv1.SignerService_PublishPlanVersion_FullMethodName, req), domain.Plan{
		ID: req.GetId(), Name: req.GetName(), Modules: req.GetModules(), DefinitionJSON: []byte(req.GetDefinitionJson()),
	}, int(req.GetExpectedVersion()))
	if err != nil {
		return nil, s.errs.Map(ctx, planErrors(err))
	}
	return &signerv1.PublishPlanVersionResponse{Plan: planPB(p)}, nil
}

// planErrors renames a plan's fields to the request's: the definition
// travels as definition_json.
func planErrors(err error) error {
	fields := validate.Fields(err)
	if len(fields) == 0 || errors.Is(err, domain.ErrIdempotencyKeyReused) {
		return err
	}
	errs := make([]error, len(fields))
	for i, f := range fields {
		name := f.Field
		if rest, ok := strings.CutPrefix(name, "definition"); ok {
			name = "definition_json" + rest
		}
		errs[i] = validate.Field(name, "%s", f.Reason)
	}
	if fields[0].Field == "idempotency_key" {
		return errors.Join(errs...)
	}
	return fmt.Errorf("%w: %w", errInvalidPlan, errors.Join(errs...))
}

// IssueOfflineLicense implements the RPC.
func (s *Server) IssueOfflineLicense(ctx context.Context, req *signerv1.IssueOfflineLicenseRequest) (*signerv1.IssueOfflineLicenseResponse, error) {
	out, err := s.issuance.OfflineLicense(ctx, req.GetWorkspaceId(), req.GetCustomerId(), req.GetAddress(),
		idempotency(signerv1.SignerService_IssueOfflineLicense_FullMethodName, req))
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.IssueOfflineLicenseResponse{License: optLicensePB(out.License)}, nil
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
