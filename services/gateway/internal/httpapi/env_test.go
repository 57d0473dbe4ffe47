package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
	"github.com/cloudlicense/authority/services/gateway/internal/upstream"
)

const (
	serviceKey = "gateway-service-key"
	publicURL  = "https://cloud.example.com/"
	// tokenKid names the access-token key the fake token service publishes.
	tokenKid = "test-kid"
)

// rsaKey generates a 2048-bit key once per name: generation is the slow part.
var rsaKeys sync.Map

func rsaKey(name string) *rsa.PrivateKey {
	if k, ok := rsaKeys.Load(name); ok {
		return k.(*rsa.PrivateKey)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	actual, _ := rsaKeys.LoadOrStore(name, k)
	return actual.(*rsa.PrivateKey)
}

// fakes are the internal services the gateway calls. Each answer can be
// replaced per test; every request is recorded.
type fakes struct {
	registryv1.UnimplementedRegistryServiceServer
	tokensv1.UnimplementedTokenServiceServer
	signerv1.UnimplementedSignerServiceServer
	keysv1.UnimplementedKeyServiceServer
	syncv1.UnimplementedSyncServiceServer

	mu          sync.Mutex
	registerErr error
	issueErr    error
	issueResp   *tokensv1.IssueAccessTokenResponse
	keysErr     error
	syncErr     error
	syncView    *syncv1.SyncView
	signerErr   error
	// versionsDoc is the supported-versions document the fake signer
	// returns; versionsErr its error instead.
	versionsDoc   string
	versionsErr   error
	versionsCalls int

	registers []*registryv1.RegisterWithTokenRequest
	issues    []*tokensv1.IssueAccessTokenRequest
	syncs     []*syncv1.SyncRequest
	keyCalls  int
}

func (f *fakes) RegisterWithToken(_ context.Context, req *registryv1.RegisterWithTokenRequest) (*registryv1.RegisterWithTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers = append(f.registers, req)
	if f.registerErr != nil {
		return nil, f.registerErr
	}
	return &registryv1.RegisterWithTokenResponse{
		Workspace: &registryv1.Workspace{Id: "0123456789abcdef01234567", ClientName: strings.TrimSpace(req.GetClientName()), CustomerId: "cus_1"},
		ClientId:  "client-1", ClientSecret: "cs_secret",
	}, nil
}

func (f *fakes) IssueAccessToken(_ context.Context, req *tokensv1.IssueAccessTokenRequest) (*tokensv1.IssueAccessTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues = append(f.issues, req)
	if f.issueErr != nil {
		return nil, f.issueErr
	}
	if f.issueResp != nil {
		return f.issueResp, nil
	}
	return &tokensv1.IssueAccessTokenResponse{AccessToken: "access-token", ExpiresIn: 3600, Scope: "workspace:license:read", WorkspaceId: "ws-1"}, nil
}

func (f *fakes) GetAccessTokenKeys(context.Context, *tokensv1.GetAccessTokenKeysRequest) (*tokensv1.GetAccessTokenKeysResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyCalls++
	if f.keysErr != nil {
		return nil, f.keysErr
	}
	der, err := x509.MarshalPKIXPublicKey(&rsaKey("access").PublicKey)
	if err != nil {
		return nil, err
	}
	return &tokensv1.GetAccessTokenKeysResponse{Keys: []*tokensv1.PublicKey{{Kid: tokenKid, Alg: "RS256", SpkiDer: der}}}, nil
}

func (f *fakes) GetLicensePublicKey(context.Context, *signerv1.GetLicensePublicKeyRequest) (*signerv1.GetLicensePublicKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signerErr != nil {
		return nil, f.signerErr
	}
	pub := &rsaKey("license").PublicKey
	return &signerv1.GetLicensePublicKeyResponse{Kid: keys.KeyID(pub), PublicKeyPem: keys.PublicKeyPEM(pub), PublicKeyV2: keys.PublicKeyV2(pub)}, nil
}

func (f *fakes) ListKeys(context.Context, *keysv1.ListKeysRequest) (*keysv1.ListKeysResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signerErr != nil {
		return nil, f.signerErr
	}
	pub := &rsaKey("license").PublicKey
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &keysv1.ListKeysResponse{Keys: []*keysv1.SigningKey{{Kid: keys.KeyID(pub), Algorithm: keys.AlgRS256, State: "active", SpkiDer: der}}}, nil
}

func (f *fakes) Sync(_ context.Context, req *syncv1.SyncRequest) (*syncv1.SyncResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, req)
	if f.syncErr != nil {
		return nil, f.syncErr
	}
	view := f.syncView
	if view == nil {
		view = &syncv1.SyncView{WorkspaceId: req.GetWorkspaceId(), License: "RCV3_test.license.jwt"}
	}
	return &syncv1.SyncResponse{View: view}, nil
}

// set changes the fakes' answers under the lock.
func (f *fakes) set(edit func(*fakes)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f)
}

func (f *fakes) recorded() (registers []*registryv1.RegisterWithTokenRequest, issues []*tokensv1.IssueAccessTokenRequest, syncs []*syncv1.SyncRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.registers {
		registers = append(registers, proto.Clone(r).(*registryv1.RegisterWithTokenRequest))
	}
	for _, r := range f.issues {
		issues = append(issues, proto.Clone(r).(*tokensv1.IssueAccessTokenRequest))
	}
	for _, r := range f.syncs {
		syncs = append(syncs, proto.Clone(r).(*syncv1.SyncRequest))
	}
	return registers, issues, syncs
}

// env is the gateway's HTTP API in process, calling fakes of the internal
// services over a loopback gRPC listener through its real clients. The fakes
// sit behind the real interceptors and accept only the service key, as the
// internal services do.
type env struct {
	fakes   *fakes
	handler http.Handler
}

type envOptions struct {
	opts   httpapi.Options
	apiKey string // the key the gateway presents; serviceKey when empty
	// noPublicURL leaves PUBLIC_URL unset (derived from each request)
	// instead of defaulting it to publicURL.
	noPublicURL bool
}

func start(t testing.TB, o envOptions) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1}))
	f := &fakes{}
	auth := authn.NewRemote(serviceKey, func(context.Context, string) (authn.Principal, error) {
		return authn.Principal{}, authn.ErrInvalidKey
	})
	service := []authn.Role{authn.RoleService}
	srv := grpcserver.New(log, auth, authn.Policy{
		registryv1.RegistryService_RegisterWithToken_FullMethodName: service,
		tokensv1.TokenService_IssueAccessToken_FullMethodName:       service,
		tokensv1.TokenService_GetAccessTokenKeys_FullMethodName:     service,
		signerv1.SignerService_GetLicensePublicKey_FullMethodName:   service,
		keysv1.KeyService_ListKeys_FullMethodName:                   service,
		signerv1.SignerService_GetSupportedVersions_FullMethodName:  service,
		syncv1.SyncService_Sync_FullMethodName:                      service,
	})
	registryv1.RegisterRegistryServiceServer(srv.Server, f)
	tokensv1.RegisterTokenServiceServer(srv.Server, f)
	signerv1.RegisterSignerServiceServer(srv.Server, f)
	keysv1.RegisterKeyServiceServer(srv.Server, f)
	syncv1.RegisterSyncServiceServer(srv.Server, f)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fake upstreams: %v", err)
		}
	})

	key := o.apiKey
	if key == "" {
		key = serviceKey
	}
	addr := lis.Addr().String()
	up, err := upstream.Dial(client.Config{RegistryAddr: addr, TokensAddr: addr, SignerAddr: addr, SyncAddr: addr, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })

	opts := o.opts
	if opts.PublicURL == "" && !o.noPublicURL {
		opts.PublicURL = publicURL
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.UpstreamWait == 0 {
		opts.UpstreamWait = 10 * time.Second
	}
	return &env{fakes: f, handler: httpapi.New(up, log, opts).Handler()}
}

// do serves one request in process and returns the recorded response.
func (e *env) do(t testing.TB, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

func newRequest(t testing.TB, method, path, contentType, body string, header http.Header) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

// errorBody checks the protocol's error shape: the status, a JSON content
// type, and a body with exactly the string fields error and
// error_description, both non-empty. It returns the description.
func errorBody(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	got, _ := body["error"].(string)
	desc, _ := body["error_description"].(string)
	if got != code || desc == "" || len(body) != 2 {
		t.Fatalf("error body %s, want {\"error\": %q, \"error_description\": <text>}", rec.Body, code)
	}
	return desc
}

// jsonBody decodes a success body after checking status and content type.
func jsonBody(t testing.TB, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return body
}

// accessToken signs an access token as the token service would, with the
// test key (or another one), for workspace ws with scope, expiring at exp.
type tokenSpec struct {
	key      string // rsaKey name; "access" is the one the fake publishes
	kid      string
	ws       string
	scope    string
	audience string
	exp      time.Time
}

func signToken(t testing.TB, s tokenSpec) string {
	t.Helper()
	if s.key == "" {
		s.key = "access"
	}
	if s.kid == "" {
		s.kid = tokenKid
	}
	if s.audience == "" {
		s.audience = "workspace"
	}
	if s.exp.IsZero() {
		s.exp = time.Now().Add(time.Hour)
	}
	payload, err := json.Marshal(map[string]any{
		"iss": "licensing-tokens", "sub": s.ws, "aud": s.audience, "client_id": "client-1", "scope": s.scope,
		"iat": time.Now().Unix(), "exp": s.exp.Unix(), "jti": "jti-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(rsaKey(s.key), s.kid, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// unavailable is what a service says during an outage.
var unavailable = rpcerr.New(codes.Unavailable, "tokens.licensing", "UNAVAILABLE", "storage unavailable, retry", nil)
