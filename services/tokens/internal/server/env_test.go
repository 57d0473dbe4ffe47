package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/testenv"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/server"
	"github.com/cloudlicense/authority/services/tokens/internal/store"
)

const (
	schema     = "tokens"
	serviceKey = "test-service-key"
	accessTTL  = 15 * time.Minute
)

// signingKey is generated once: RSA generation is the slow part of a test.
var signingKey = sync.OnceValue(func() keys.Key {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k, err := keys.NewKey(priv)
	if err != nil {
		panic(err)
	}
	return k
})

// staticKeys is a keys.Manager with one in-memory key.
type staticKeys struct{ key keys.Key }

func (s staticKeys) Active(context.Context) (keys.Key, error) { return s.key, nil }
func (s staticKeys) PublicKeys(context.Context) ([]keys.PublicKey, error) {
	return []keys.PublicKey{{ID: s.key.ID, Algorithm: s.key.Algorithm, Key: s.key.Public()}}, nil
}

// fakeDirectory stands in for the registry and the signer.
type fakeDirectory struct {
	customers, plans map[string]bool
	err              error

	mu    sync.Mutex
	calls int
}

func (d *fakeDirectory) CustomerExists(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.customers[id], d.err
}

func (d *fakeDirectory) PlanExists(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.plans[id], d.err
}

func (d *fakeDirectory) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// env is the token service in process over real Postgres, behind its real
// interceptors, policy and API-key authenticator, reached over bufconn.
type env struct {
	pool *pgxpool.Pool
	st   *store.Store
	dir  *fakeDirectory
	// roleKeys are API keys stored in the service, one per role (the service
	// role uses the deployment's service key).
	roleKeys map[authn.Role]string
	conn     func(creds ...grpc.DialOption) tokensv1.TokenServiceClient
	// svc calls as another service does; admin and billing as those roles.
	svc, admin, billing tokensv1.TokenServiceClient
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 20)
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
	pool := newPool(t)
	st := store.New(pool)
	e := &env{
		pool: pool, st: st,
		dir:      &fakeDirectory{customers: map[string]bool{"cus_1": true}, plans: map[string]bool{"plan_pro": true}},
		roleKeys: map[authn.Role]string{authn.RoleService: serviceKey},
	}
	for _, role := range []authn.Role{authn.RoleAdmin, authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead} {
		_, key, err := st.CreateAPIKey(t.Context(), string(role)+" test key", string(role))
		if err != nil {
			t.Fatalf("create %s key: %v", role, err)
		}
		e.roleKeys[role] = key
	}

	srv := grpcserver.New(log, server.LocalAuthenticator(st, serviceKey), server.Policy)
	tokensv1.RegisterTokenServiceServer(srv.Server, server.New(st, staticKeys{signingKey()}, e.dir, accessTTL, log))
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

	e.conn = func(opts ...grpc.DialOption) tokensv1.TokenServiceClient {
		opts = append(opts,
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		conn, err := grpc.NewClient("passthrough:///tokens", opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return tokensv1.NewTokenServiceClient(conn)
	}
	e.svc = e.as(serviceKey)
	e.admin = e.as(e.roleKeys[authn.RoleAdmin])
	e.billing = e.as(e.roleKeys[authn.RoleBilling])
	return e
}

// as returns a client presenting key.
func (e *env) as(key string) tokensv1.TokenServiceClient {
	return e.conn(grpc.WithPerRPCCredentials(authn.APIKey(key)))
}

// newToken creates a registration token through the RPC and returns its secret.
func (e *env) newToken(t testing.TB, req *tokensv1.CreateRegistrationTokenRequest) (*tokensv1.RegistrationToken, string) {
	t.Helper()
	if req == nil {
		req = &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1"}
	}
	resp, err := e.billing.CreateRegistrationToken(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateRegistrationToken: %v", err)
	}
	return resp.GetToken(), resp.GetSecret()
}

// redeem registers workspace ws with a fresh single-use token and returns its credentials.
func (e *env) redeem(t testing.TB, ws string) *tokensv1.RedeemRegistrationTokenResponse {
	t.Helper()
	_, secret := e.newToken(t, nil)
	resp, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: ws, ClientName: "Chat"})
	if err != nil {
		t.Fatalf("RedeemRegistrationToken: %v", err)
	}
	return resp
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

func wantField(t testing.TB, err error, field string) {
	t.Helper()
	wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	for _, f := range rpcerr.Fields(err) {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("error %v does not name field %q (fields %v)", err, field, rpcerr.Fields(err))
}
