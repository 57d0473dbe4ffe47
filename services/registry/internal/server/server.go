// Package server is the registry's gRPC surface.
package server

import (
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

const errDomain = "registry.licensing"

// Policy says which roles may call each RPC (admin may call all).
var Policy = authn.Policy{
	registryv1.RegistryService_CreateCustomer_FullMethodName:    {authn.RoleBilling, authn.RoleService},
	registryv1.RegistryService_GetCustomer_FullMethodName:       {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	registryv1.RegistryService_RegisterWithToken_FullMethodName: {authn.RoleService},
	registryv1.RegistryService_GetWorkspace_FullMethodName:      {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	registryv1.RegistryService_ListWorkspaces_FullMethodName:    {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	// The gateway's calls for registration by e-mail confirmation.
	registryv1.RegistryService_CreateIntent_FullMethodName:    {authn.RoleService},
	registryv1.RegistryService_PollIntent_FullMethodName:      {authn.RoleService},
	registryv1.RegistryService_GetIntentByCode_FullMethodName: {authn.RoleService},
	registryv1.RegistryService_ConfirmIntent_FullMethodName:   {authn.RoleService},
	registryv1.RegistryService_RejectIntent_FullMethodName:    {authn.RoleService},
	// Internal clients' calls; the console makes them for its signed-in
	// customers (creating a customer at sign-up, listing, registering and
	// deregistering only that customer's workspaces).
	registryv1.RegistryService_DeregisterWorkspace_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	registryv1.RegistryService_RegisterOffline_FullMethodName:     {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
}

// Options are the server's dependencies and settings beyond the store and
// the token service.
type Options struct {
	// Signer issues the first (offline) license of an offline registration.
	Signer signerv1.SignerServiceClient
	// Versions refuses registrations of unsupported versions; nil checks
	// none.
	Versions signerv1.VersionPolicyServiceClient
	// Sealer seals the secrets registration intents hold; nil turns
	// registration by e-mail confirmation off.
	Sealer *domain.Sealer
	// IntentTTL is how long an intent waits for its confirmation;
	// PollInterval the least time between polls.
	IntentTTL    time.Duration
	PollInterval time.Duration
	// PublicURL is the gateway's base URL (registration_client_uri of
	// offline registrations).
	PublicURL string
	// LicenseWait bounds how long an offline registration waits for its
	// license.
	LicenseWait time.Duration
}

// Server implements registryv1.RegistryServiceServer.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	store  *store.Store
	tokens tokensv1.TokenServiceClient
	opts   Options
	errs   rpcerr.Mapper
	log    *slog.Logger
}

// New returns the server.
func New(st *store.Store, tokens tokensv1.TokenServiceClient, log *slog.Logger, opts Options) *Server {
	if opts.IntentTTL <= 0 {
		opts.IntentTTL = 30 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.LicenseWait <= 0 {
		opts.LicenseWait = 15 * time.Second
	}
	return &Server{store: st, tokens: tokens, opts: opts, log: log, errs: rpcerr.Mapper{Domain: errDomain, Log: log, Rules: []rpcerr.Rule{
		// Before validate.ErrInvalid: these wrap field errors too.
		{Err: domain.ErrInvalidRegistrationData, Code: codes.InvalidArgument, Reason: "INVALID_REGISTRATION_DATA"},
		{Err: domain.ErrInvalidClientKey, Code: codes.InvalidArgument, Reason: "INVALID_CLIENT_KEY"},
		{Err: domain.ErrIntentNotFound, Code: codes.NotFound, Reason: "INTENT_NOT_FOUND"},
		{Err: domain.ErrIntentExpired, Code: codes.FailedPrecondition, Reason: "INTENT_EXPIRED"},
		{Err: domain.ErrIntentRejected, Code: codes.FailedPrecondition, Reason: "INTENT_REJECTED"},
		{Err: domain.ErrIntentDone, Code: codes.FailedPrecondition, Reason: "INTENT_CONFIRMED"},
		{Err: domain.ErrTooManyMails, Code: codes.ResourceExhausted, Reason: "TOO_MANY_MAILS"},
		{Err: domain.ErrIntentsOff, Code: codes.FailedPrecondition, Reason: "INTENTS_DISABLED"},
		{Err: domain.ErrPublicURL, Code: codes.FailedPrecondition, Reason: "PUBLIC_URL_MISSING"},
		{Err: domain.ErrCustomerNotFound, Code: codes.NotFound, Reason: "CUSTOMER_NOT_FOUND"},
		{Err: domain.ErrWorkspaceNotFound, Code: codes.NotFound, Reason: "WORKSPACE_NOT_FOUND"},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
	}}}
}

// CreateCustomer implements the RPC.
func (s *Server) CreateCustomer(ctx context.Context, req *registryv1.CreateCustomerRequest) (*registryv1.CreateCustomerResponse, error) {
	name := strings.TrimSpace(req.GetName())
	if name == "" || len(name) > 200 {
		return nil, s.errs.Map(ctx, validate.Field("name", "required, at most 200 characters"))
	}
	email := strings.TrimSpace(req.GetContactEmail())
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return nil, s.errs.Map(ctx, validate.Field("contact_email", "not an e-mail address"))
		}
	}
	c, err := s.store.CreateCustomer(ctx, name, email)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.CreateCustomerResponse{Customer: customerPB(c)}, nil
}

// GetCustomer implements the RPC.
func (s *Server) GetCustomer(ctx context.Context, req *registryv1.GetCustomerRequest) (*registryv1.GetCustomerResponse, error) {
	c, err := s.store.Customer(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.GetCustomerResponse{Customer: customerPB(c)}, nil
}

// RegisterWithToken implements the RPC. The token use and the credentials
// live in the token service, the workspace here; if the workspace cannot be
// stored after a successful redemption, the redemption is released so the
// token use is not lost.
func (s *Server) RegisterWithToken(ctx context.Context, req *registryv1.RegisterWithTokenRequest) (*registryv1.RegisterWithTokenResponse, error) {
	reg := domain.TokenRegistration{Token: req.GetRegistrationToken(), Email: strings.TrimSpace(req.GetEmail()), ClientName: strings.TrimSpace(req.GetClientName()), RedirectURIs: req.GetRedirectUris()}
	if err := reg.Validate(); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	id := domain.NewWorkspaceID()
	red, err := s.tokens.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{
		Secret: reg.Token, WorkspaceId: id, ClientName: reg.ClientName, RedirectUris: reg.RedirectURIs,
	})
	if err != nil {
		return nil, err // the token service's status (reason REGISTRATION_TOKEN_*) passes through
	}
	w, err := s.store.CreateRegisteredWorkspace(ctx, domain.Workspace{
		ID: id, CustomerID: red.GetCustomerId(), ClientName: reg.ClientName, ContactEmail: reg.Email, InitialPlanID: red.GetPlanId(),
	})
	if err != nil {
		s.release(ctx, id)
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.RegisterWithTokenResponse{Workspace: workspacePB(w), ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret()}, nil
}

func (s *Server) release(ctx context.Context, workspaceID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.tokens.ReleaseRedemption(ctx, &tokensv1.ReleaseRedemptionRequest{WorkspaceId: workspaceID}); err != nil {
		s.log.ErrorContext(ctx, "release redemption after failed registration", "workspace_id", workspaceID, "error", err)
	}
}

// GetWorkspace implements the RPC.
func (s *Server) GetWorkspace(ctx context.Context, req *registryv1.GetWorkspaceRequest) (*registryv1.GetWorkspaceResponse, error) {
	w, err := s.store.Workspace(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.GetWorkspaceResponse{Workspace: workspacePB(w)}, nil
}

// ListWorkspaces implements the RPC.
func (s *Server) ListWorkspaces(ctx context.Context, req *registryv1.ListWorkspacesRequest) (*registryv1.ListWorkspacesResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 500:
		return nil, s.errs.Map(ctx, validate.Field("page_size", "must be between 0 and 500"))
	case size == 0:
		size = 100
	}
	ws, err := s.store.Workspaces(ctx, req.GetCustomerId(), size)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &registryv1.ListWorkspacesResponse{}
	for _, w := range ws {
		resp.Workspaces = append(resp.Workspaces, workspacePB(w))
	}
	return resp, nil
}

func customerPB(c domain.Customer) *registryv1.Customer {
	return &registryv1.Customer{Id: c.ID, Name: c.Name, ContactEmail: c.ContactEmail, CreatedAt: timestamppb.New(c.CreatedAt)}
}

var states = map[domain.State]registryv1.WorkspaceState{
	domain.StatePending:      registryv1.WorkspaceState_WORKSPACE_STATE_PENDING,
	domain.StateRegistered:   registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED,
	domain.StateDisconnected: registryv1.WorkspaceState_WORKSPACE_STATE_DISCONNECTED,
	domain.StateDeregistered: registryv1.WorkspaceState_WORKSPACE_STATE_DEREGISTERED,
}

func workspacePB(w domain.Workspace) *registryv1.Workspace {
	pb := &registryv1.Workspace{
		Id: w.ID, CustomerId: w.CustomerID, State: states[w.State], ClientName: w.ClientName, ContactEmail: w.ContactEmail,
		InitialPlanId: w.InitialPlanID, UniqueId: w.UniqueID, Address: w.Address, Version: w.Version, RegisteredAt: timestamppb.New(w.RegisteredAt),
	}
	if w.LastSyncedAt != nil {
		pb.LastSyncedAt = timestamppb.New(*w.LastSyncedAt)
	}
	return pb
}
