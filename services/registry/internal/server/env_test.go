package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/testenv"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/server"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

const (
	schema     = "registry"
	serviceKey = "test-service-key"
)

// apiKeys are the keys the fake token service knows, by role.
var apiKeys = map[string]authn.Role{
	"admin-key":    authn.RoleAdmin,
	"billing-key":  authn.RoleBilling,
	"support-key":  authn.RoleSupport,
	"operator-key": authn.RoleOperatorRead,
}

// fakeTokens is the token service as the registry sees it: it redeems
// registration tokens, releases redemptions and resolves API keys. It records
// every redemption and release.
type fakeTokens struct {
	tokensv1.UnimplementedTokenServiceServer

	mu         sync.Mutex
	customerID string
	planID     string
	redeemErr  error
	redeemed   []*tokensv1.RedeemRegistrationTokenRequest
	released   []string
	// Credentials issued without a token, by client id.
	creds   map[string]*tokensv1.ClientCredential
	issued  int
	revoked []string
}

func (f *fakeTokens) IssueWorkspaceCredentials(_ context.Context, req *tokensv1.IssueWorkspaceCredentialsRequest) (*tokensv1.IssueWorkspaceCredentialsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.creds == nil {
		f.creds = map[string]*tokensv1.ClientCredential{}
	}
	f.issued++
	id := fmt.Sprintf("client-%d", f.issued)
	f.creds[id] = &tokensv1.ClientCredential{ClientId: id, WorkspaceId: req.GetWorkspaceId()}
	return &tokensv1.IssueWorkspaceCredentialsResponse{ClientId: id, ClientSecret: "cs_" + id}, nil
}

func (f *fakeTokens) RevokeWorkspaceCredentials(_ context.Context, req *tokensv1.RevokeWorkspaceCredentialsRequest) (*tokensv1.RevokeWorkspaceCredentialsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, req.GetWorkspaceId())
	var n int32
	for _, c := range f.creds {
		if c.GetWorkspaceId() == req.GetWorkspaceId() && c.GetRevokedAt() == nil {
			c.RevokedAt = timestamppb.Now()
			n++
		}
	}
	return &tokensv1.RevokeWorkspaceCredentialsResponse{Revoked: n}, nil
}

func (f *fakeTokens) GetClientCredential(_ context.Context, req *tokensv1.GetClientCredentialRequest) (*tokensv1.GetClientCredentialResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.creds[req.GetClientId()]
	if !ok {
		return nil, rpcerr.New(codes.NotFound, "tokens.licensing", "CREDENTIAL_NOT_FOUND", "not found", nil)
	}
	return &tokensv1.GetClientCredentialResponse{Credential: proto.Clone(c).(*tokensv1.ClientCredential)}, nil
}

// use marks clientID's credential as exchanged for an access token.
func (f *fakeTokens) use(clientID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creds[clientID].FirstUsedAt = timestamppb.Now()
}

// fakeSigner issues offline licenses; until known is set it has not heard of
// a workspace yet (NOT_FOUND), as right after the registration.
type fakeSigner struct {
	signerv1.UnimplementedSignerServiceServer
	mu       sync.Mutex
	notFound int
	calls    []*signerv1.IssueOfflineLicenseRequest
}

func (f *fakeSigner) IssueOfflineLicense(_ context.Context, req *signerv1.IssueOfflineLicenseRequest) (*signerv1.IssueOfflineLicenseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if f.notFound > 0 {
		f.notFound--
		return nil, rpcerr.New(codes.NotFound, "signer.licensing", "WORKSPACE_NOT_FOUND", "not found", nil)
	}
	return &signerv1.IssueOfflineLicenseResponse{License: &signerv1.License{WorkspaceId: req.GetWorkspaceId(), Token: "RCV3_offline." + req.GetWorkspaceId(), Offline: true}}, nil
}

func (f *fakeSigner) GetLicensePublicKey(context.Context, *signerv1.GetLicensePublicKeyRequest) (*signerv1.GetLicensePublicKeyResponse, error) {
	return &signerv1.GetLicensePublicKeyResponse{PublicKeyPem: "-----BEGIN PUBLIC KEY-----\nTEST\n-----END PUBLIC KEY-----\n"}, nil
}

func (f *fakeTokens) RedeemRegistrationToken(_ context.Context, req *tokensv1.RedeemRegistrationTokenRequest) (*tokensv1.RedeemRegistrationTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeemed = append(f.redeemed, req)
	if f.redeemErr != nil {
		return nil, f.redeemErr
	}
	return &tokensv1.RedeemRegistrationTokenResponse{CustomerId: f.customerID, PlanId: f.planID, ClientId: "client-" + req.GetWorkspaceId(), ClientSecret: "cs_secret", TokenId: "rtk_1"}, nil
}

func (f *fakeTokens) ReleaseRedemption(_ context.Context, req *tokensv1.ReleaseRedemptionRequest) (*tokensv1.ReleaseRedemptionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, req.GetWorkspaceId())
	return &tokensv1.ReleaseRedemptionResponse{}, nil
}

func (f *fakeTokens) AuthenticateAPIKey(_ context.Context, req *tokensv1.AuthenticateAPIKeyRequest) (*tokensv1.AuthenticateAPIKeyResponse, error) {
	role, ok := apiKeys[req.GetKey()]
	if !ok {
		return nil, rpcerr.New(codes.Unauthenticated, "tokens.licensing", "API_KEY_INVALID", "invalid API key", nil)
	}
	return &tokensv1.AuthenticateAPIKeyResponse{KeyId: req.GetKey(), Role: string(role), Name: req.GetKey()}, nil
}

func (f *fakeTokens) set(customerID, planID string, redeemErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customerID, f.planID, f.redeemErr = customerID, planID, redeemErr
}

func (f *fakeTokens) calls() (redeemed []*tokensv1.RedeemRegistrationTokenRequest, released []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.redeemed), slices.Clone(f.released)
}

// env is the registry in process over real Postgres, behind its real
// interceptors and policy, authenticating callers through the (fake) token
// service as it does in production.
type env struct {
	pool   *pgxpool.Pool
	tokens *fakeTokens
	signer *fakeSigner
	opts   server.Options
	dial   func(opts ...grpc.DialOption) registryv1.RegistryServiceClient
	// svc calls as the gateway does; admin as an operator.
	svc, admin registryv1.RegistryServiceClient
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// serve runs srv on a bufconn listener until the test ends and returns a
// dialer for it.
func serve(t testing.TB, srv *grpcserver.Server) func(opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return func(opts ...grpc.DialOption) *grpc.ClientConn {
		opts = append(opts,
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		conn, err := grpc.NewClient("passthrough:///bufconn", opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
}

func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 10)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		pgdb.Source{Name: schema, FS: store.Migrations()},
	); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// testSealer seals intent secrets in tests.
func testSealer(t testing.TB) *domain.Sealer {
	t.Helper()
	s, err := domain.NewSealer(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t testing.TB, opts ...func(*server.Options)) *env {
	t.Helper()
	log := logger(t)
	e := &env{pool: newPool(t), tokens: &fakeTokens{}, signer: &fakeSigner{}}
	for _, o := range opts {
		o(&e.opts)
	}

	// The token service accepts only the service key, so a registry that
	// called it without its key would fail here as in production.
	tokensSrv := grpcserver.New(log, authn.NewRemote(serviceKey, func(context.Context, string) (authn.Principal, error) {
		return authn.Principal{}, authn.ErrInvalidKey
	}), authn.Policy{
		tokensv1.TokenService_RedeemRegistrationToken_FullMethodName:    {authn.RoleService},
		tokensv1.TokenService_ReleaseRedemption_FullMethodName:          {authn.RoleService},
		tokensv1.TokenService_AuthenticateAPIKey_FullMethodName:         {authn.RoleService},
		tokensv1.TokenService_IssueWorkspaceCredentials_FullMethodName:  {authn.RoleService},
		tokensv1.TokenService_RevokeWorkspaceCredentials_FullMethodName: {authn.RoleService},
		tokensv1.TokenService_GetClientCredential_FullMethodName:        {authn.RoleService},
		signerv1.SignerService_IssueOfflineLicense_FullMethodName:       {authn.RoleService},
		signerv1.SignerService_GetLicensePublicKey_FullMethodName:       {authn.RoleService},
	})
	tokensv1.RegisterTokenServiceServer(tokensSrv.Server, e.tokens)
	signerv1.RegisterSignerServiceServer(tokensSrv.Server, e.signer)
	upConn := serve(t, tokensSrv)(grpc.WithPerRPCCredentials(authn.APIKey(serviceKey)))
	tokens := tokensv1.NewTokenServiceClient(upConn)
	if e.opts.Sealer == nil {
		e.opts.Sealer = testSealer(t)
	}
	if e.opts.PublicURL == "" {
		e.opts.PublicURL = "https://cloud.example.com"
	}
	e.opts.Signer = signerv1.NewSignerServiceClient(upConn)

	base := &app.Base{Config: app.Config{ServiceAPIKey: serviceKey}}
	srv := grpcserver.New(log, base.RemoteAuthenticator(tokens), server.Policy)
	registryv1.RegisterRegistryServiceServer(srv.Server, server.New(store.New(e.pool), tokens, log, e.opts))
	dial := serve(t, srv)
	e.dial = func(opts ...grpc.DialOption) registryv1.RegistryServiceClient {
		return registryv1.NewRegistryServiceClient(dial(opts...))
	}
	e.svc = e.as(serviceKey)
	e.admin = e.as("admin-key")
	return e
}

func (e *env) as(key string) registryv1.RegistryServiceClient {
	return e.dial(grpc.WithPerRPCCredentials(authn.APIKey(key)))
}

func (e *env) customer(t testing.TB, name string) string {
	t.Helper()
	resp, err := e.admin.CreateCustomer(t.Context(), &registryv1.CreateCustomerRequest{Name: name})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	return resp.GetCustomer().GetId()
}

func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func wantStatus(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if got := rpcerr.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
	if got := rpcerr.Reason(err); got != reason {
		t.Fatalf("reason = %q (%v), want %q", got, err, reason)
	}
}
