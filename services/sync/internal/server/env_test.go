package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/consumer"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
	"github.com/cloudlicense/authority/services/sync/internal/server"
	"github.com/cloudlicense/authority/services/sync/internal/signer"
	"github.com/cloudlicense/authority/services/sync/internal/store"
	"github.com/cloudlicense/authority/services/sync/internal/versions"
)

const serviceKey = "service-key"

// keys are the API keys the tests' token service would know.
var keys = map[string]authn.Role{
	"billing-key":  authn.RoleBilling,
	"support-key":  authn.RoleSupport,
	"operator-key": authn.RoleOperatorRead,
	"admin-key":    authn.RoleAdmin,
}

// env is the sync service running in process over real Postgres and NATS,
// with its consumer, behind its real authorization policy. Outbox rows reach
// the stream when a test calls harness.PublishOutbox.
type env struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	signer *fakeSigner
	dial   func(key string) syncv1.SyncServiceClient
	// client calls as the gateway does, with the service key.
	client syncv1.SyncServiceClient
	// versions is the version gate, at a fixed clock, letting everything
	// through until a test sets a policy.
	versions *versions.Gate
}

// versionsClock is the version gate's clock in these tests.
var versionsClock = time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)

func start(t testing.TB) *env {
	t.Helper()
	log := harness.Logger(t)
	pool := harness.Database(t)
	js := harness.JetStream(t)
	fake, signerConn := startSigner(t)
	st := store.New(pool)

	auth := authn.NewRemote(serviceKey, func(_ context.Context, key string) (authn.Principal, error) {
		role, ok := keys[key]
		if !ok {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		return authn.Principal{KeyID: key, Name: key, Role: role}, nil
	})
	srv := grpcserver.New(log, auth, server.Policy)
	gate := versions.New(nil, nil, log, func() time.Time { return versionsClock })
	syncv1.RegisterSyncServiceServer(srv.Server, server.New(st, signer.New(signerv1.NewSignerServiceClient(signerConn), log), log, server.WithVersionGate(gate)))
	lis := bufconn.Listen(1 << 20)
	harness.Go(t, func(ctx context.Context) error { return srv.Serve(ctx, lis, time.Second) })
	harness.Go(t, consumer.New(js, pool, st, log).Run)

	e := &env{pool: pool, js: js, signer: fake, versions: gate}
	e.dial = func(key string) syncv1.SyncServiceClient {
		conn, err := grpc.NewClient("passthrough:///sync",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(authn.APIKey(key)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return syncv1.NewSyncServiceClient(conn)
	}
	e.client = e.dial(serviceKey)
	return e
}

// report is a valid usage report from address.
func report(address string) *syncv1.UsageReport {
	return &syncv1.UsageReport{
		UniqueId: "unique-1", Address: address, Version: "7.2.1", Seats: 10, MonthlyActiveContacts: 3,
		SiteName: "Example Chat", RawJson: `{"uniqueId":"unique-1","address":"` + address + `","seats":10,"MAC":3}`,
	}
}

func (e *env) sync(t testing.TB, ws string, r *syncv1.UsageReport) *syncv1.SyncView {
	t.Helper()
	resp, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: ws, Report: r})
	if err != nil {
		t.Fatalf("Sync(%s): %v", ws, err)
	}
	return resp.GetView()
}

func wantStatus(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if got := rpcerr.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
	if reason != "" {
		if got := rpcerr.Reason(err); got != reason {
			t.Fatalf("reason = %q (%v), want %q", got, err, reason)
		}
	}
}
