// Package server is the token service's gRPC surface: request validation,
// the authorization policy, and the mapping of domain errors to gRPC codes.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"crypto/x509"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
	"github.com/cloudlicense/authority/services/tokens/internal/store"
)

// Policy says which roles may call each RPC (admin may call all).
var Policy = authn.Policy{
	tokensv1.TokenService_CreateRegistrationToken_FullMethodName: {authn.RoleBilling, authn.RoleService},
	tokensv1.TokenService_RevokeRegistrationToken_FullMethodName: {authn.RoleBilling},
	tokensv1.TokenService_RedeemRegistrationToken_FullMethodName: {authn.RoleService},
	tokensv1.TokenService_ReleaseRedemption_FullMethodName:       {authn.RoleService},
	tokensv1.TokenService_IssueAccessToken_FullMethodName:        {authn.RoleService},
	tokensv1.TokenService_GetAccessTokenKeys_FullMethodName:      {authn.RoleService},
	tokensv1.TokenService_AuthenticateAPIKey_FullMethodName:      {authn.RoleService},
	tokensv1.TokenService_CreateAPIKey_FullMethodName:            {},
	tokensv1.TokenService_GetRegistrationToken_FullMethodName:    {authn.RoleBilling, authn.RoleSupport},
	tokensv1.TokenService_ListRegistrationTokens_FullMethodName:  {authn.RoleBilling, authn.RoleSupport},
	// The registry issues and revokes credentials of workspaces that
	// register without a token, and reads their first use.
	tokensv1.TokenService_IssueWorkspaceCredentials_FullMethodName:  {authn.RoleService},
	tokensv1.TokenService_RevokeWorkspaceCredentials_FullMethodName: {authn.RoleService},
	tokensv1.TokenService_GetClientCredential_FullMethodName:        {authn.RoleService},

	// The access-token keyset. Re-sign jobs are the signer's (access
	// tokens expire within the hour); here they answer UNIMPLEMENTED.
	keysv1.KeyService_ListKeys_FullMethodName:     {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	keysv1.KeyService_RotateKeys_FullMethodName:   {},
	keysv1.KeyService_ImportKey_FullMethodName:    {},
	keysv1.KeyService_RevokeKey_FullMethodName:    {},
	keysv1.KeyService_StartResign_FullMethodName:  {},
	keysv1.KeyService_GetResignJob_FullMethodName: {},
}

// NewKeys returns the access-token keyset's KeyService.
func NewKeys(ks *keyset.Service, log *slog.Logger) *keyset.Server {
	return keyset.NewServer(ks, newMapper(log))
}

// Directory answers whether the customers and plans a token names exist; it
// is the registry and the signer, over gRPC.
type Directory interface {
	CustomerExists(ctx context.Context, id string) (bool, error)
	PlanExists(ctx context.Context, id string) (bool, error)
}

// Server implements tokensv1.TokenServiceServer.
type Server struct {
	tokensv1.UnimplementedTokenServiceServer
	store     *store.Store
	keys      keys.Manager
	dir       Directory
	accessTTL time.Duration
	issuer    string
	errs      rpcerr.Mapper
}

// New returns the server.
func New(st *store.Store, km keys.Manager, dir Directory, accessTTL time.Duration, log *slog.Logger) *Server {
	return &Server{store: st, keys: km, dir: dir, accessTTL: accessTTL, issuer: "licensing-tokens", errs: newMapper(log)}
}

// CreateRegistrationToken implements the RPC.
func (s *Server) CreateRegistrationToken(ctx context.Context, req *tokensv1.CreateRegistrationTokenRequest) (*tokensv1.CreateRegistrationTokenResponse, error) {
	maxUses, ttlSeconds := req.GetMaxUses(), req.GetTtlSeconds()
	if maxUses == 0 {
		maxUses = 1
	}
	// Bound the seconds before converting: a huge ttl_seconds would overflow
	// time.Duration into the valid range (or to zero, the default).
	ttl := domain.DefaultTokenTTL
	if ttlSeconds != 0 {
		ttl = time.Duration(min(max(ttlSeconds, -1), int64(domain.MaxTokenTTL/time.Second)+1)) * time.Second
	}
	var bad []rpcerr.FieldViolation
	if strings.TrimSpace(req.GetCustomerId()) == "" {
		bad = append(bad, rpcerr.FieldViolation{Field: "customer_id", Description: "required"})
	}
	if maxUses < 1 || maxUses > domain.MaxTokenUses {
		bad = append(bad, rpcerr.FieldViolation{Field: "max_uses", Description: "must be between 1 and 100000"})
	}
	if ttl < time.Minute || ttl > domain.MaxTokenTTL {
		bad = append(bad, rpcerr.FieldViolation{Field: "ttl_seconds", Description: "must be between 60 seconds and 365 days"})
	}
	if len(bad) > 0 {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", bad...)
	}
	if s.dir != nil {
		if ok, err := s.dir.CustomerExists(ctx, req.GetCustomerId()); err != nil {
			return nil, s.toStatus(ctx, err)
		} else if !ok {
			return nil, s.toStatus(ctx, domain.ErrCustomerNotFound)
		}
		if req.GetPlanId() != "" {
			if ok, err := s.dir.PlanExists(ctx, req.GetPlanId()); err != nil {
				return nil, s.toStatus(ctx, err)
			} else if !ok {
				return nil, s.toStatus(ctx, domain.ErrPlanNotFound)
			}
		}
	}
	t, secret, err := s.store.CreateRegistrationToken(ctx, req.GetCustomerId(), req.GetPlanId(), maxUses, ttl)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.CreateRegistrationTokenResponse{Token: tokenPB(t), Secret: secret}, nil
}

// RevokeRegistrationToken implements the RPC.
func (s *Server) RevokeRegistrationToken(ctx context.Context, req *tokensv1.RevokeRegistrationTokenRequest) (*tokensv1.RevokeRegistrationTokenResponse, error) {
	if req.GetId() == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "id", Description: "required"})
	}
	t, err := s.store.RevokeRegistrationToken(ctx, req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.RevokeRegistrationTokenResponse{Token: tokenPB(t)}, nil
}

// RedeemRegistrationToken implements the RPC.
func (s *Server) RedeemRegistrationToken(ctx context.Context, req *tokensv1.RedeemRegistrationTokenRequest) (*tokensv1.RedeemRegistrationTokenResponse, error) {
	var bad []rpcerr.FieldViolation
	if req.GetSecret() == "" {
		bad = append(bad, rpcerr.FieldViolation{Field: "secret", Description: "required"})
	}
	if req.GetWorkspaceId() == "" {
		bad = append(bad, rpcerr.FieldViolation{Field: "workspace_id", Description: "required"})
	}
	if len(bad) > 0 {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", bad...)
	}
	r, err := s.store.Redeem(ctx, req.GetSecret(), req.GetWorkspaceId(), req.GetClientName(), req.GetRedirectUris())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.RedeemRegistrationTokenResponse{CustomerId: r.CustomerID, PlanId: r.PlanID, ClientId: r.ClientID, ClientSecret: r.ClientSecret, TokenId: r.TokenID}, nil
}

// ReleaseRedemption implements the RPC.
func (s *Server) ReleaseRedemption(ctx context.Context, req *tokensv1.ReleaseRedemptionRequest) (*tokensv1.ReleaseRedemptionResponse, error) {
	if req.GetWorkspaceId() == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "workspace_id", Description: "required"})
	}
	if err := s.store.ReleaseRedemption(ctx, req.GetWorkspaceId()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.ReleaseRedemptionResponse{}, nil
}

// accessClaims is the payload of a workspace access token.
type accessClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"`
}

// IssueAccessToken implements the RPC.
func (s *Server) IssueAccessToken(ctx context.Context, req *tokensv1.IssueAccessTokenRequest) (*tokensv1.IssueAccessTokenResponse, error) {
	if req.GetClientId() == "" || req.GetClientSecret() == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "client_id", Description: "client_id and client_secret are required"})
	}
	if strings.ContainsRune(req.GetClientId(), 0) {
		// No client id holds a NUL (Postgres text cannot), so it is simply
		// unknown; asking the store would fail as an internal error.
		return nil, s.toStatus(ctx, domain.ErrInvalidCredentials)
	}
	cred, err := s.store.Credential(ctx, req.GetClientId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if cred.Revoked || subtle.ConstantTimeCompare([]byte(cred.SecretHash), []byte(domain.Hash(req.GetClientSecret()))) != 1 {
		return nil, s.toStatus(ctx, domain.ErrInvalidCredentials)
	}
	scopes, err := domain.GrantScopes(req.GetScope(), cred.Scopes)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	key, err := s.keys.Active(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if !cred.FirstUsed {
		// The first use ends the time a registration by e-mail confirmation
		// holds the secret for the workspace's repeated poll.
		if err := s.store.MarkFirstUse(ctx, cred.ClientID); err != nil {
			return nil, s.toStatus(ctx, err)
		}
	}
	now := time.Now()
	claims := accessClaims{
		Issuer: s.issuer, Subject: cred.WorkspaceID, Audience: "workspace", ClientID: cred.ClientID,
		Scope: strings.Join(scopes, " "), IssuedAt: now.Unix(), ExpiresAt: now.Add(s.accessTTL).Unix(), ID: domain.NewID(""),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	tok, err := jws.Sign(key.Signer, key.ID, payload)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.IssueAccessTokenResponse{AccessToken: tok, ExpiresIn: int64(s.accessTTL.Seconds()), Scope: claims.Scope, WorkspaceId: cred.WorkspaceID}, nil
}

// GetAccessTokenKeys implements the RPC.
func (s *Server) GetAccessTokenKeys(ctx context.Context, _ *tokensv1.GetAccessTokenKeysRequest) (*tokensv1.GetAccessTokenKeysResponse, error) {
	pubs, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &tokensv1.GetAccessTokenKeysResponse{}
	for _, p := range pubs {
		der, err := x509.MarshalPKIXPublicKey(p.Key)
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		resp.Keys = append(resp.Keys, &tokensv1.PublicKey{Kid: p.ID, Alg: p.Algorithm, SpkiDer: der})
	}
	return resp, nil
}

// AuthenticateAPIKey implements the RPC.
func (s *Server) AuthenticateAPIKey(ctx context.Context, req *tokensv1.AuthenticateAPIKeyRequest) (*tokensv1.AuthenticateAPIKeyResponse, error) {
	k, err := s.store.APIKeyByHash(ctx, domain.Hash(req.GetKey()))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.AuthenticateAPIKeyResponse{KeyId: k.ID, Role: k.Role, Name: k.Name}, nil
}

// CreateAPIKey implements the RPC.
func (s *Server) CreateAPIKey(ctx context.Context, req *tokensv1.CreateAPIKeyRequest) (*tokensv1.CreateAPIKeyResponse, error) {
	var bad []rpcerr.FieldViolation
	if strings.TrimSpace(req.GetName()) == "" {
		bad = append(bad, rpcerr.FieldViolation{Field: "name", Description: "required"})
	}
	role, err := authn.ParseRole(req.GetRole())
	if err != nil {
		bad = append(bad, rpcerr.FieldViolation{Field: "role", Description: err.Error()})
	}
	if len(bad) > 0 {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", bad...)
	}
	k, key, err := s.store.CreateAPIKey(ctx, strings.TrimSpace(req.GetName()), string(role))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.CreateAPIKeyResponse{KeyId: k.ID, Key: key, Role: k.Role}, nil
}

// LocalAuthenticator checks API keys against the token service's own table
// (the other services ask it over gRPC). It caches like the remote one.
func LocalAuthenticator(st *store.Store, serviceKey string) authn.Authenticator {
	return authn.NewRemote(serviceKey, func(ctx context.Context, key string) (authn.Principal, error) {
		k, err := st.APIKeyByHash(ctx, domain.Hash(key))
		if errors.Is(err, domain.ErrInvalidAPIKey) {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		if err != nil {
			return authn.Principal{}, err
		}
		return authn.Principal{KeyID: k.ID, Name: k.Name, Role: authn.Role(k.Role)}, nil
	})
}

func tokenPB(t domain.RegistrationToken) *tokensv1.RegistrationToken {
	pb := &tokensv1.RegistrationToken{
		Id: t.ID, CustomerId: t.CustomerID, PlanId: t.PlanID, MaxUses: t.MaxUses, Uses: t.Uses,
		ExpiresAt: timestamppb.New(t.ExpiresAt), CreatedAt: timestamppb.New(t.CreatedAt),
	}
	if t.RevokedAt != nil {
		pb.RevokedAt = timestamppb.New(*t.RevokedAt)
	}
	return pb
}
