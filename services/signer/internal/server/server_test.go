package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/server"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

const serviceKey = "svc-key"

// apiKeys stand in for the token service's key table.
var apiKeys = map[string]authn.Role{
	"admin-key":   authn.RoleAdmin,
	"billing-key": authn.RoleBilling,
	"support-key": authn.RoleSupport,
	"ops-key":     authn.RoleOperatorRead,
}

type env struct {
	client   signerv1.SignerServiceClient
	subs     signerv1.SubscriptionServiceClient
	versions signerv1.VersionPolicyServiceClient
	keys     signertest.Keys
	store    *store.Store
	pool     *pgxpool.Pool
	// clock is the version policy server's, for exact window edges.
	clock *clock
}

// clock is a settable time (the real one until set).
type clock struct{ at atomic.Pointer[time.Time] }

func (c *clock) Set(t time.Time) { c.at.Store(&t) }

func (c *clock) Now() time.Time {
	if t := c.at.Load(); t != nil {
		return *t
	}
	return time.Now()
}

// newEnv serves the signer over bufconn behind the real interceptors.
func newEnv(t *testing.T) env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := signertest.NewPool(t)
	st := store.New(pool)
	km := signertest.NewKeys(t)
	reg := signertest.NewRegistry(domain.Workspace{ID: "ws-1", CustomerID: "cus_1", RegisteredAt: time.Now()},
		domain.Workspace{ID: "ws-2", CustomerID: "cus_2", RegisteredAt: time.Now()})
	auth := authn.NewRemote(serviceKey, func(_ context.Context, key string) (authn.Principal, error) {
		role, ok := apiKeys[key]
		if !ok {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		return authn.Principal{KeyID: key, Name: key, Role: role}, nil
	})
	srv := grpcserver.New(log, auth, server.Policy)
	iss := issuance.New(st, km, reg)
	signerv1.RegisterSignerServiceServer(srv.Server, server.New(st, iss, km, log))
	signerv1.RegisterSubscriptionServiceServer(srv.Server, server.NewSubscriptions(iss, log))
	clk := &clock{}
	signerv1.RegisterVersionPolicyServiceServer(srv.Server, server.NewVersionPolicy(st, log, clk.Now))
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Server.Serve(lis) }()
	t.Cleanup(srv.Server.Stop)
	conn, err := grpc.NewClient("passthrough:///signer",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return env{
		client: signerv1.NewSignerServiceClient(conn), subs: signerv1.NewSubscriptionServiceClient(conn),
		versions: signerv1.NewVersionPolicyServiceClient(conn), keys: km, store: st, pool: pool, clock: clk,
	}
}

func as(key string) grpc.CallOption { return grpc.PerRPCCredentials(authn.APIKey(key)) }

func wantStatus(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if rpcerr.Code(err) != code || rpcerr.Reason(err) != reason {
		t.Errorf("%s: %v (reason %q), want %s %s", what, err, rpcerr.Reason(err), code, reason)
	}
}

func TestPolicyCoversEveryRPC(t *testing.T) {
	t.Parallel()
	// Every service the signer process serves.
	if missing := server.Policy.MissingMethods(signerv1.SignerService_ServiceDesc, signerv1.SubscriptionService_ServiceDesc, signerv1.VersionPolicyService_ServiceDesc, keysv1.KeyService_ServiceDesc); len(missing) > 0 {
		t.Errorf("RPCs without a policy: %v", missing)
	}
	all := []authn.Role{authn.RoleAdmin, authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService}
	allowed := map[string][]authn.Role{
		signerv1.SignerService_ListPlans_FullMethodName:            all,
		signerv1.SignerService_GetPlan_FullMethodName:              all,
		signerv1.SignerService_CreatePlan_FullMethodName:           {authn.RoleAdmin},
		signerv1.SignerService_PublishPlanVersion_FullMethodName:   {authn.RoleAdmin},
		signerv1.SignerService_EnsureLicense_FullMethodName:        {authn.RoleAdmin, authn.RoleService},
		signerv1.SignerService_ListLicenses_FullMethodName:         all,
		signerv1.SignerService_IssueOfflineLicense_FullMethodName:  {authn.RoleAdmin, authn.RoleSupport, authn.RoleService},
		signerv1.SignerService_GetLicensePublicKey_FullMethodName:  all,
		signerv1.SignerService_GetSupportedVersions_FullMethodName: all,
		signerv1.SignerService_RecordRelease_FullMethodName:        {authn.RoleAdmin},

		signerv1.SubscriptionService_GrantSubscription_FullMethodName:     {authn.RoleAdmin, authn.RoleBilling},
		signerv1.SubscriptionService_StartTrial_FullMethodName:            {authn.RoleAdmin, authn.RoleBilling, authn.RoleSupport, authn.RoleService},
		signerv1.SubscriptionService_ExtendTrial_FullMethodName:           {authn.RoleAdmin, authn.RoleSupport},
		signerv1.SubscriptionService_ConvertTrial_FullMethodName:          {authn.RoleAdmin, authn.RoleBilling},
		signerv1.SubscriptionService_RenewSubscription_FullMethodName:     {authn.RoleAdmin, authn.RoleBilling},
		signerv1.SubscriptionService_CancelSubscription_FullMethodName:    {authn.RoleAdmin, authn.RoleBilling, authn.RoleService},
		signerv1.SubscriptionService_SuspendSubscription_FullMethodName:   {authn.RoleAdmin, authn.RoleSupport},
		signerv1.SubscriptionService_ReinstateSubscription_FullMethodName: {authn.RoleAdmin, authn.RoleSupport},
		signerv1.SubscriptionService_GetEntitlement_FullMethodName:        all,

		signerv1.VersionPolicyService_GetVersionPolicy_FullMethodName:       all,
		signerv1.VersionPolicyService_SetVersionPolicy_FullMethodName:       {authn.RoleAdmin},
		signerv1.VersionPolicyService_AddVersionException_FullMethodName:    {authn.RoleAdmin, authn.RoleSupport},
		signerv1.VersionPolicyService_RemoveVersionException_FullMethodName: {authn.RoleAdmin, authn.RoleSupport},
		signerv1.VersionPolicyService_ListVersionExceptions_FullMethodName:  {authn.RoleAdmin, authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
		signerv1.VersionPolicyService_CheckVersion_FullMethodName:           {authn.RoleAdmin, authn.RoleService},
	}
	for _, sd := range []grpc.ServiceDesc{signerv1.SignerService_ServiceDesc, signerv1.SubscriptionService_ServiceDesc, signerv1.VersionPolicyService_ServiceDesc} {
		for _, m := range sd.Methods {
			if _, ok := allowed["/"+sd.ServiceName+"/"+m.MethodName]; !ok {
				t.Errorf("the matrix below lacks %s/%s", sd.ServiceName, m.MethodName)
			}
		}
	}
	for method, roles := range allowed {
		for _, role := range authn.Roles {
			want := slices.Contains(roles, role)
			if got := server.Policy.Allowed(method, role); got != want {
				t.Errorf("%s as %s: allowed %v, want %v", method, role, got, want)
			}
		}
	}
}

func TestPlans(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	resp, err := e.client.ListPlans(ctx, &signerv1.ListPlansRequest{}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPlans()) != 3 {
		t.Fatalf("plans = %v", resp.GetPlans())
	}
	for _, p := range resp.GetPlans() {
		if _, err := domain.ParseDefinition([]byte(p.GetDefinitionJson())); err != nil || p.GetVersion() < 1 {
			t.Errorf("plan %s: version %d, definition %v", p.GetId(), p.GetVersion(), err)
		}
	}
	got, err := e.client.GetPlan(ctx, &signerv1.GetPlanRequest{Id: "starter"}, as(serviceKey))
	if err != nil || !got.GetPlan().GetFree() || got.GetPlan().GetName() != "Starter" {
		t.Errorf("GetPlan(starter) = %v, %v", got, err)
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(got.GetPlan().GetDefinitionJson()), &def); err != nil || def["supportPlan"] != "standard" {
		t.Errorf("starter definition = %v, %v", def, err)
	}
	_, err = e.client.GetPlan(ctx, &signerv1.GetPlanRequest{Id: "platinum"}, as("billing-key"))
	wantStatus(t, "unknown plan", err, codes.NotFound, server.ReasonPlanNotFound)
	_, err = e.client.GetPlan(ctx, &signerv1.GetPlanRequest{}, as("billing-key"))
	wantStatus(t, "no plan id", err, codes.InvalidArgument, server.ReasonInvalidRequest)
}

func TestEnsureLicense(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	first, err := e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1", Address: "https://chat.example.com/"}, as(serviceKey))
	if err != nil {
		t.Fatal(err)
	}
	l := first.GetLicense()
	if !first.GetIssued() || l.GetSequence() != 1 || l.GetAddress() != "chat.example.com" || l.GetPlanId() != "starter" ||
		l.GetKid() != e.keys.Key.ID || l.GetExpiresAt() == nil || l.GetIssuedAt() == nil {
		t.Fatalf("EnsureLicense = %v", first)
	}
	again, err := e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1", Address: "chat.example.com"}, as(serviceKey))
	if err != nil || again.GetIssued() || again.GetLicense().GetId() != l.GetId() {
		t.Errorf("second EnsureLicense = %v, %v; want the same license, not issued", again, err)
	}

	_, err = e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1", Address: "chat example.com"}, as(serviceKey))
	wantStatus(t, "bad address", err, codes.InvalidArgument, server.ReasonInvalidAddress)
	if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != "address" {
		t.Errorf("bad address fields = %v, want address", f)
	}
	_, err = e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{}, as(serviceKey))
	wantStatus(t, "no workspace id", err, codes.InvalidArgument, server.ReasonInvalidRequest)
	if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != "workspace_id" {
		t.Errorf("no workspace id fields = %v", f)
	}
	_, err = e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-nobody"}, as(serviceKey))
	wantStatus(t, "unknown workspace", err, codes.NotFound, server.ReasonWorkspaceNotFound)

	_, err = e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1"}, as("billing-key"))
	if rpcerr.Code(err) != codes.PermissionDenied {
		t.Errorf("billing calling EnsureLicense: %v, want PermissionDenied", err)
	}
	_, err = e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1"}, as("stolen-key"))
	if rpcerr.Code(err) != codes.Unauthenticated {
		t.Errorf("unknown key: %v, want Unauthenticated", err)
	}
}

func TestListLicenses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	for _, addr := range []string{"", "a.example.com", "b.example.com"} {
		if _, err := e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1", Address: addr}, as(serviceKey)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-1"}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, l := range resp.GetLicenses() {
		seqs = append(seqs, l.GetSequence())
	}
	if len(seqs) != 3 || seqs[0] != 3 || seqs[1] != 2 || seqs[2] != 1 {
		t.Errorf("sequences = %v, want newest first [3 2 1]", seqs)
	}
	empty, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-nobody"}, as("support-key"))
	if err != nil || len(empty.GetLicenses()) != 0 {
		t.Errorf("history of an unknown workspace = %v, %v; want empty", empty, err)
	}
	_, err = e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{}, as("support-key"))
	wantStatus(t, "no workspace id", err, codes.InvalidArgument, server.ReasonInvalidRequest)
	// The console reads a workspace's history for its customer.
	if got, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-1"}, as(serviceKey)); err != nil || len(got.GetLicenses()) != 3 {
		t.Errorf("service calling ListLicenses: %v, %v; want the history", got, err)
	}
}

func TestGetLicensePublicKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	resp, err := e.client.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{}, as(serviceKey))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetKid() != e.keys.Key.ID {
		t.Errorf("kid = %q, want %q", resp.GetKid(), e.keys.Key.ID)
	}
	if got := base64.StdEncoding.EncodeToString([]byte(resp.GetPublicKeyPem())); got != resp.GetPublicKeyV2() {
		t.Error("public_key_v2 is not the base64 of public_key_pem")
	}
	// What a workspace build reads from PUBLIC_LICENSE_KEY_V2 verifies what
	// the signer issues.
	pub, err := keys.ParsePublicKey(resp.GetPublicKeyV2())
	if err != nil {
		t.Fatal(err)
	}
	issued, err := e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: "ws-1"}, as(serviceKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := license.VerifyWithKey(issued.GetLicense().GetToken(), pub); err != nil {
		t.Errorf("the issued license does not verify with the published key: %v", err)
	}
}
