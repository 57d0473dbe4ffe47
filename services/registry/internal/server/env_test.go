package server_test

import (
	"context"
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

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/testenv"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
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

func start(t testing.TB) *env {
	t.Helper()
	log := logger(t)
	e := &env{pool: newPool(t), tokens: &fakeTokens{}}

	// The token service accepts only the service key, so a registry that
	// called it without its key would fail here as in production.
	tokensSrv := grpcserver.New(log, authn.NewRemote(serviceKey, func(context.Context, string) (authn.Principal, error) {
		return authn.Principal{}, authn.ErrInvalidKey
	}), authn.Policy{
		tokensv1.TokenService_RedeemRegistrationToken_FullMethodName: {authn.RoleService},
		tokensv1.TokenService_ReleaseRedemption_FullMethodName:       {authn.RoleService},
		tokensv1.TokenService_AuthenticateAPIKey_FullMethodName:      {authn.RoleService},
	})
	tokensv1.RegisterTokenServiceServer(tokensSrv.Server, e.tokens)
	tokens := tokensv1.NewTokenServiceClient(serve(t, tokensSrv)(grpc.WithPerRPCCredentials(authn.APIKey(serviceKey))))

	base := &app.Base{Config: app.Config{ServiceAPIKey: serviceKey}}
	srv := grpcserver.New(log, base.RemoteAuthenticator(tokens), server.Policy)
	registryv1.RegisterRegistryServiceServer(srv.Server, server.New(store.New(e.pool), tokens, log))
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
