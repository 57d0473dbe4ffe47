package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/authn/authntest"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// intendedPolicy is who may call each internal RPC, besides admin (who may
// call them all): the authorization the services document. It is written out
// here rather than read from the services, so a change of a service's table
// that nobody meant shows up as a failure. Every RPC a running service serves
// (found through gRPC reflection) must have an entry, so a new RPC without a
// decided policy fails this test.
//
// The service role (what services present to each other) reaches the
// customer-facing RPCs the console calls on a signed-in person's behalf:
// creating a customer, listing and deregistering its workspaces, offline
// registration, registration tokens, license history and usage.
var intendedPolicy = map[string][]authn.Role{
	registryv1.RegistryService_CreateCustomer_FullMethodName:      {authn.RoleBilling, authn.RoleService},
	registryv1.RegistryService_GetCustomer_FullMethodName:         {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	registryv1.RegistryService_RegisterWithToken_FullMethodName:   {authn.RoleService},
	registryv1.RegistryService_GetWorkspace_FullMethodName:        {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	registryv1.RegistryService_ListWorkspaces_FullMethodName:      {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	registryv1.RegistryService_CreateIntent_FullMethodName:        {authn.RoleService},
	registryv1.RegistryService_PollIntent_FullMethodName:          {authn.RoleService},
	registryv1.RegistryService_GetIntentByCode_FullMethodName:     {authn.RoleService},
	registryv1.RegistryService_ConfirmIntent_FullMethodName:       {authn.RoleService},
	registryv1.RegistryService_RejectIntent_FullMethodName:        {authn.RoleService},
	registryv1.RegistryService_DeregisterWorkspace_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	registryv1.RegistryService_RegisterOffline_FullMethodName:     {authn.RoleBilling, authn.RoleSupport, authn.RoleService},

	tokensv1.TokenService_CreateRegistrationToken_FullMethodName:    {authn.RoleBilling, authn.RoleService},
	tokensv1.TokenService_RevokeRegistrationToken_FullMethodName:    {authn.RoleBilling},
	tokensv1.TokenService_RedeemRegistrationToken_FullMethodName:    {authn.RoleService},
	tokensv1.TokenService_ReleaseRedemption_FullMethodName:          {authn.RoleService},
	tokensv1.TokenService_IssueAccessToken_FullMethodName:           {authn.RoleService},
	tokensv1.TokenService_GetAccessTokenKeys_FullMethodName:         {authn.RoleService},
	tokensv1.TokenService_AuthenticateAPIKey_FullMethodName:         {authn.RoleService},
	tokensv1.TokenService_CreateAPIKey_FullMethodName:               {},
	tokensv1.TokenService_GetRegistrationToken_FullMethodName:       {authn.RoleBilling, authn.RoleSupport},
	tokensv1.TokenService_ListRegistrationTokens_FullMethodName:     {authn.RoleBilling, authn.RoleSupport},
	tokensv1.TokenService_IssueWorkspaceCredentials_FullMethodName:  {authn.RoleService},
	tokensv1.TokenService_RevokeWorkspaceCredentials_FullMethodName: {authn.RoleService},
	tokensv1.TokenService_GetClientCredential_FullMethodName:        {authn.RoleService},

	signerv1.SignerService_ListPlans_FullMethodName:                   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_GetPlan_FullMethodName:                     {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_CreatePlan_FullMethodName:                  {},
	signerv1.SignerService_PublishPlanVersion_FullMethodName:          {},
	signerv1.SignerService_EnsureLicense_FullMethodName:               {authn.RoleService},
	signerv1.SignerService_ListLicenses_FullMethodName:                {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_IssueOfflineLicense_FullMethodName:         {authn.RoleSupport, authn.RoleService},
	signerv1.SignerService_GetLicensePublicKey_FullMethodName:         {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_GetSupportedVersions_FullMethodName:        {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.SignerService_RecordRelease_FullMethodName:               {},
	signerv1.SubscriptionService_GrantSubscription_FullMethodName:     {authn.RoleBilling},
	signerv1.SubscriptionService_StartTrial_FullMethodName:            {authn.RoleBilling, authn.RoleSupport, authn.RoleService},
	signerv1.SubscriptionService_ExtendTrial_FullMethodName:           {authn.RoleSupport},
	signerv1.SubscriptionService_ConvertTrial_FullMethodName:          {authn.RoleBilling},
	signerv1.SubscriptionService_RenewSubscription_FullMethodName:     {authn.RoleBilling},
	signerv1.SubscriptionService_CancelSubscription_FullMethodName:    {authn.RoleBilling, authn.RoleService},
	signerv1.SubscriptionService_SuspendSubscription_FullMethodName:   {authn.RoleSupport},
	signerv1.SubscriptionService_ReinstateSubscription_FullMethodName: {authn.RoleSupport},
	signerv1.SubscriptionService_GetEntitlement_FullMethodName:        {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},

	syncv1.SyncService_Sync_FullMethodName:                              {authn.RoleService},
	syncv1.SyncService_GetSyncView_FullMethodName:                       {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_GetUsage_FullMethodName:                          {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	syncv1.SyncService_ListOverLimit_FullMethodName:                     {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
	syncv1.SyncService_Watch_FullMethodName:                             {authn.RoleOperatorRead},
	syncv1.AnnouncementService_CreateAnnouncement_FullMethodName:        {authn.RoleSupport},
	syncv1.AnnouncementService_WithdrawAnnouncement_FullMethodName:      {authn.RoleSupport},
	syncv1.AnnouncementService_ListAnnouncements_FullMethodName:         {authn.RoleSupport, authn.RoleBilling, authn.RoleOperatorRead},
	syncv1.AnnouncementService_GetWorkspaceAnnouncements_FullMethodName: {authn.RoleService},

	signerv1.VersionPolicyService_GetVersionPolicy_FullMethodName:       {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	signerv1.VersionPolicyService_SetVersionPolicy_FullMethodName:       {},
	signerv1.VersionPolicyService_AddVersionException_FullMethodName:    {authn.RoleSupport},
	signerv1.VersionPolicyService_RemoveVersionException_FullMethodName: {authn.RoleSupport},
	signerv1.VersionPolicyService_ListVersionExceptions_FullMethodName:  {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead},
	signerv1.VersionPolicyService_CheckVersion_FullMethodName:           {authn.RoleService},

	// The license keyset (signer) and the access-token keyset (tokens) are
	// the same service; see intendedOn for where they differ.
	keysv1.KeyService_ListKeys_FullMethodName:     {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	keysv1.KeyService_RotateKeys_FullMethodName:   {},
	keysv1.KeyService_ImportKey_FullMethodName:    {},
	keysv1.KeyService_RevokeKey_FullMethodName:    {},
	keysv1.KeyService_StartResign_FullMethodName:  {},
	keysv1.KeyService_GetResignJob_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},

	// The issuance log is public: every internal role may read it.
	logv1.LogService_GetSignedTreeHead_FullMethodName:   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	logv1.LogService_GetInclusionProof_FullMethodName:   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	logv1.LogService_GetConsistencyProof_FullMethodName: {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	logv1.LogService_GetEntries_FullMethodName:          {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
}

// intendedOn is where one process serves an RPC under another policy than
// intendedPolicy's: the token service has no re-sign jobs (access tokens
// live an hour), so only an admin may ask about one.
var intendedOn = map[string]map[string][]authn.Role{
	"tokens": {keysv1.KeyService_GetResignJob_FullMethodName: {}},
}

// policyFor is the intended policy of m on the process serving it.
func policyFor(m servedMethod) ([]authn.Role, bool) {
	if roles, ok := intendedOn[m.process][m.full]; ok {
		return roles, true
	}
	roles, ok := intendedPolicy[m.full]
	return roles, ok
}

// httpAccess is how a public endpoint decides who may call it.
type httpAccess int

const (
	// open: anyone; credentials are ignored.
	open httpAccess = iota
	// registrationToken: a registration token as the bearer.
	registrationToken
	// clientCredentials: the workspace's client id and secret in the form.
	clientCredentials
	// ownWorkspace: an access token for the workspace the path names.
	ownWorkspace
	// anyWorkspace: any workspace's access token; the token names the workspace.
	anyWorkspace
)

// intendedHTTP is the access of every route the gateway serves. The routes
// are read from the gateway's router, so a new route without an entry here
// fails the test.
var intendedHTTP = map[string]httpAccess{
	"POST /api/oauth/clients":                                registrationToken,
	"POST /api/oauth/token":                                  clientCredentials,
	"POST /api/v2/workspaces/{workspaceId}/sync":             ownWorkspace,
	"POST /api/v2/workspaces/{workspaceId}/client":           ownWorkspace,
	"GET /api/v2/workspaces/{workspaceId}/license":           ownWorkspace,
	"POST /api/v2/workspaces/{workspaceId}/client/downgrade": ownWorkspace,
	"POST /api/v3/comms/workspace":                           anyWorkspace,
	"POST /api/v2/register/workspace/pre-intent":             open,
	"POST /api/v2/register/workspace/intent":                 open,
	"GET /api/v2/register/workspace/poll":                    open,
	"POST /api/v2/register/workspace":                        open,
	"GET /register/confirm":                                  open,
	"POST /register/confirm":                                 open,
	"GET /v2/server/supportedVersions":                       open,
	"GET /.well-known/jwks.json":                             open,
	"GET /v1/log/tree-head":                                  open,
	"GET /v1/log/inclusion":                                  open,
	"GET /v1/log/consistency":                                open,
	"GET /v1/log/entries":                                    open,
}

// caller is one kind of caller: what it presents to gRPC and to HTTP.
type caller struct {
	name string
	// role is the API key's role, empty for callers without a valid key.
	role authn.Role
	// key is what goes in the gRPC Authorization header (empty: none).
	key string
	// bearer is what goes in the HTTP Authorization header, and form the
	// token endpoint's body.
	bearer, form string
	// kind says which HTTP rule applies to the caller.
	kind string
}

// TestAuthorizationMatrix calls every RPC of every service and every public
// HTTP route as every kind of caller, and compares each answer with the
// intended policy.
func TestAuthorizationMatrix(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	admin := adminClient(t, sys)
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Authz")
	a := registerWorkspace(t, sys, ws, createToken(t, sys, customer, "", 3), "authz-a", "https://a.authz.test")
	b := registerWorkspace(t, sys, ws, createToken(t, sys, customer, "", 1), "authz-b", "https://b.authz.test")
	revokedWS := registerWorkspace(t, sys, ws, createToken(t, sys, customer, "", 1), "authz-revoked", "https://r.authz.test")
	if _, err := admin.Registry.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: revokedWS.creds.WorkspaceID, Reason: "authz test"}); err != nil {
		t.Fatal(err)
	}
	revokedToken := createToken(t, sys, customer, "", 1)
	if _, _, err := sys.Licensectl(ctx, "", "tokens", "revoke", tokenID(t, sys, revokedToken)); err != nil {
		t.Fatal(err)
	}

	callers := []caller{
		{name: "no credentials", kind: "none"},
		{name: "workspace", key: a.full, bearer: a.full, kind: "own"},
		{name: "another workspace", key: b.full, bearer: b.full, kind: "other"},
		{name: "expired access token", key: expiredAccessToken(t, sys, a.creds.WorkspaceID), bearer: expiredAccessToken(t, sys, a.creds.WorkspaceID), kind: "expired"},
		{name: "revoked credentials", key: revokedWS.creds.ClientSecret, bearer: revokedToken, kind: "revoked",
			form: "grant_type=client_credentials&client_id=" + revokedWS.creds.ClientID + "&client_secret=" + revokedWS.creds.ClientSecret},
		{name: "unknown API key", key: "lak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", bearer: "lak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", kind: "apikey"},
	}
	for _, role := range authn.Roles {
		key := sys.AdminKey
		switch role {
		case authn.RoleAdmin:
		case authn.RoleService:
			key = sys.ServiceKey
		default:
			resp, err := admin.Tokens.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "authz " + string(role), Role: string(role)})
			if err != nil {
				t.Fatal(err)
			}
			key = resp.GetKey()
		}
		callers = append(callers, caller{name: string(role), role: role, key: key, bearer: key, kind: "apikey"})
	}

	t.Run("gRPC", func(t *testing.T) {
		methods := servedMethods(t, sys)
		var rows []string
		for _, m := range methods {
			allowed, ok := policyFor(m)
			if !ok {
				t.Errorf("%s has no intended policy: decide who may call it (here and in its service's policy)", m.full)
				continue
			}
			row := []string{m.process + " " + m.full}
			for _, c := range callers {
				want := authntest.Unauthenticated
				if c.role != "" {
					want = authntest.Denied
					if c.role == authn.RoleAdmin || slices.Contains(allowed, c.role) {
						want = authntest.Allowed
					}
				}
				got := authntest.Classify(m.call(ctx, c.key))
				if got != want {
					t.Errorf("%s on %s as %s: %s, want %s", m.full, m.process, c.name, got, want)
				}
				row = append(row, short(got))
			}
			rows = append(rows, strings.Join(row, " "))
		}
		for m := range intendedPolicy {
			if !slices.ContainsFunc(methods, func(s servedMethod) bool { return s.full == m }) {
				t.Errorf("%s has a policy but no running service serves it", m)
			}
		}
		t.Logf("callers: %s\n%s", callerNames(callers), strings.Join(rows, "\n"))
	})

	t.Run("HTTP", func(t *testing.T) {
		routes := gatewayRoutes(t)
		for _, r := range routes {
			access, ok := intendedHTTP[r]
			if !ok {
				t.Errorf("gateway route %q has no intended access: add it here", r)
				continue
			}
			method, pattern, _ := strings.Cut(r, " ")
			path := strings.ReplaceAll(pattern, "{workspaceId}", a.creds.WorkspaceID)
			if method == http.MethodGet && strings.HasSuffix(path, "/license") {
				path += "?version=3"
			}
			for _, c := range callers {
				body, ct := a.body(t), "application/json"
				if access == clientCredentials {
					body, ct = c.form, "application/x-www-form-urlencoded"
				}
				status := rawCall(t, sys, method, path, c.bearer, ct, body)
				checkHTTP(t, r, access, c, status)
			}
		}
		for r := range intendedHTTP {
			if !slices.Contains(routes, r) {
				t.Errorf("%q has an intended access but the gateway does not serve it", r)
			}
		}
	})
}

// checkHTTP compares one answer with the route's access rule. An authorized
// call may still be refused for its content (400, 409): what matters is that
// the refusals that mean "not you" (401, 403, 404) come exactly when they
// should.
func checkHTTP(t *testing.T, route string, access httpAccess, c caller, status int) {
	t.Helper()
	denied := status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound
	var wantDenied bool
	var want string
	switch access {
	case open:
		wantDenied, want = false, "served to anyone"
	case registrationToken:
		// No caller here holds a usable registration token.
		wantDenied, want = true, "401 without a valid registration token"
	case clientCredentials:
		switch {
		case c.kind == "revoked":
			wantDenied, want = true, "401 for revoked client credentials"
		case c.form == "":
			// No credentials in the form: a 400 naming them, never a token.
			if status != http.StatusBadRequest {
				t.Errorf("%s as %s: %d, want 400 (no client credentials)", route, c.name, status)
			}
			return
		}
	case ownWorkspace:
		wantDenied, want = c.kind != "own", "only the workspace's own access token"
	case anyWorkspace:
		wantDenied, want = c.kind != "own" && c.kind != "other", "any workspace's access token"
	}
	if denied != wantDenied {
		t.Errorf("%s as %s: %d, want %s", route, c.name, status, want)
	}
	if c.kind == "other" && access == ownWorkspace && status != http.StatusNotFound {
		t.Errorf("%s as another workspace: %d, want 404 (never a hint the workspace exists)", route, status)
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		t.Errorf("%s as %s: %d", route, c.name, status)
	}
}

func rawCall(t *testing.T, sys *system, method, path, bearer, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, sys.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// servedMethod is one RPC a running service serves, callable with an empty
// request built from its descriptor.
type servedMethod struct {
	process string
	full    string
	call    func(ctx context.Context, key string) error
}

// servedMethods asks every gRPC service for the services it serves (gRPC
// reflection) and finds each one's descriptor among the generated ones.
func servedMethods(t *testing.T, sys *system) []servedMethod {
	t.Helper()
	var out []servedMethod
	for _, name := range []string{"registry", "tokens", "signer", "sync"} {
		conn, err := grpc.NewClient(sys.Addrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		for _, svc := range resp.GetListServicesResponse().GetService() {
			if strings.HasPrefix(svc.GetName(), "grpc.") {
				continue // health and reflection are open by design
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.GetName()))
			if err != nil {
				t.Errorf("%s serves %s, whose descriptor the test does not know: import its generated package", name, svc.GetName())
				continue
			}
			sd := d.(protoreflect.ServiceDescriptor)
			for i := range sd.Methods().Len() {
				md := sd.Methods().Get(i)
				full := fmt.Sprintf("/%s/%s", sd.FullName(), md.Name())
				out = append(out, servedMethod{process: name, full: full, call: func(ctx context.Context, key string) error {
					if key != "" {
						ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
					}
					ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					req, resp := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
					if md.IsStreamingServer() || md.IsStreamingClient() {
						s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, full)
						if err != nil {
							return err
						}
						if err := s.SendMsg(req); err != nil {
							return err
						}
						_ = s.CloseSend()
						return s.RecvMsg(resp)
					}
					return conn.Invoke(ctx, full, req, resp)
				}})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].full < out[j].full })
	return out
}

// gatewayRoutes reads the routes the gateway's router registers.
func gatewayRoutes(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "services", "gateway", "internal", "httpapi", "router.go"))
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range regexp.MustCompile(`handle\("([A-Z]+ [^"]*)"(\+confirmPath)?`).FindAllStringSubmatch(string(src), -1) {
		r := m[1]
		if m[2] != "" {
			r += "/register/confirm"
		}
		routes = append(routes, r)
	}
	if len(routes) < len(intendedHTTP)/2 {
		t.Fatalf("found only %d routes in the gateway's router: has its form changed?", len(routes))
	}
	return routes
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
	}
	t.Fatal("no go.work above the test")
	return ""
}

// expiredAccessToken signs, with the token service's own key, an access
// token for workspace ws that expired a minute ago.
func expiredAccessToken(t *testing.T, sys *system, ws string) string {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(filepath.Dir(sys.LogFile("tokens")), "keys", "access-token.pem"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := keys.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.NewKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": "licensing-tokens", "sub": ws, "aud": "workspace", "client_id": "expired", "scope": workspace.DefaultScopes,
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix(),
	})
	tok, err := jws.Sign(priv, k.ID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenID finds a registration token's id from its secret.
func tokenID(t *testing.T, sys *system, secret string) string {
	t.Helper()
	var id string
	execQuery(t, sys, `SELECT id FROM tokens.registration_tokens WHERE secret_hash = encode(sha256($1::bytea), 'hex')`, []any{secret}, &id)
	return id
}

func short(o authntest.Outcome) string {
	switch o {
	case authntest.Allowed:
		return "ok"
	case authntest.Denied:
		return "denied"
	}
	return "unauth"
}

func callerNames(cs []caller) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}
