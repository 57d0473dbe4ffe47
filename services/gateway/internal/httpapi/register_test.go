package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
)

const registerBody = `{"email":"admin@example.com","client_name":"Example Chat","redirect_uris":["https://chat.example.com/admin/cloud/oauth-callback"],"extra":"ignored"}`

func register(t testing.TB, token, body string) *http.Request {
	t.Helper()
	var h http.Header
	if token != "" {
		h = bearer(token)
	}
	return newRequest(t, http.MethodPost, "/api/oauth/clients", "application/json", body, h)
}

// PROTOCOL.md 2b: the exact success shape.
func TestRegisterSuccessShape(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	rec := e.do(t, register(t, "rt_token", registerBody))
	body := jsonBody(t, rec, http.StatusCreated)

	wantKeys := []string{"workspaceId", "client_name", "client_id", "client_secret", "client_secret_expires_at", "redirect_uris", "publicKey", "registration_client_uri"}
	var gotKeys []string
	for k := range body {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("fields %q, want exactly %q", gotKeys, wantKeys)
	}
	wantStrings := map[string]string{
		"workspaceId":             "0123456789abcdef01234567",
		"client_name":             "Example Chat",
		"client_id":               "client-1",
		"client_secret":           "cs_secret",
		"publicKey":               keys.PublicKeyPEM(&rsaKey("license").PublicKey),
		"registration_client_uri": "https://cloud.example.com/api/v2/workspaces/0123456789abcdef01234567",
	}
	for k, want := range wantStrings {
		if got, ok := body[k].(string); !ok || got != want {
			t.Errorf("%s = %#v, want the string %q", k, body[k], want)
		}
	}
	if v, ok := body["client_secret_expires_at"].(float64); !ok || v != 0 {
		t.Errorf("client_secret_expires_at = %#v, want the number 0", body["client_secret_expires_at"])
	}
	if !strings.Contains(rec.Body.String(), `"client_secret_expires_at":0`) {
		t.Errorf("client_secret_expires_at is not written as the literal 0: %s", rec.Body)
	}
	uris, ok := body["redirect_uris"].([]any)
	if !ok || len(uris) != 1 || uris[0] != "https://chat.example.com/admin/cloud/oauth-callback" {
		t.Errorf("redirect_uris = %#v, want the array sent", body["redirect_uris"])
	}

	registers, _, _ := e.fakes.recorded()
	if len(registers) != 1 {
		t.Fatalf("registry called %d times", len(registers))
	}
	r := registers[0]
	if r.GetRegistrationToken() != "rt_token" || r.GetEmail() != "admin@example.com" || r.GetClientName() != "Example Chat" ||
		!slices.Equal(r.GetRedirectUris(), []string{"https://chat.example.com/admin/cloud/oauth-callback"}) {
		t.Fatalf("registry request = %v", r)
	}
}

func TestRegisterRedirectURIsAlwaysAnArray(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	for _, body := range []string{`{"email":"a@example.com"}`, `{"redirect_uris":null}`, `{"redirect_uris":[]}`} {
		rec := e.do(t, register(t, "rt_token", body))
		got := jsonBody(t, rec, http.StatusCreated)
		if uris, ok := got["redirect_uris"].([]any); !ok || len(uris) != 0 {
			t.Errorf("body %s: redirect_uris = %#v, want []", body, got["redirect_uris"])
		}
	}
}

// registration_client_uri is PUBLIC_URL + /api/v2/workspaces/<id>, or, with
// no PUBLIC_URL, derived from the request.
func TestRegisterClientURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, publicURL, host, proto, want string
	}{
		{"public URL with slash", "https://cloud.example.com/", "", "", "https://cloud.example.com/api/v2/workspaces/0123456789abcdef01234567"},
		{"public URL with path", "https://example.com/licensing", "", "", "https://example.com/licensing/api/v2/workspaces/0123456789abcdef01234567"},
		{"from the request", "-", "gw.internal:8080", "", "http://gw.internal:8080/api/v2/workspaces/0123456789abcdef01234567"},
		{"behind a TLS proxy", "-", "cloud.example.org", "https", "https://cloud.example.org/api/v2/workspaces/0123456789abcdef01234567"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := envOptions{opts: httpapi.Options{PublicURL: tt.publicURL}}
			if tt.publicURL == "-" {
				o = envOptions{noPublicURL: true}
			}
			e := start(t, o)
			r := register(t, "rt_token", registerBody)
			if tt.host != "" {
				r.Host = tt.host
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			body := jsonBody(t, e.do(t, r), http.StatusCreated)
			if body["registration_client_uri"] != tt.want {
				t.Fatalf("registration_client_uri = %v, want %s", body["registration_client_uri"], tt.want)
			}
		})
	}
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		token, body string
		upstream    error
		status      int
		code        string
		description string // a word the description must contain
		noUpstream  bool
	}{
		{name: "token unknown", token: "rt_x", body: registerBody, status: 401, code: "invalid_registration_token", description: "unknown",
			upstream: rpcerr.New(codes.Unauthenticated, "tokens.licensing", "REGISTRATION_TOKEN_UNKNOWN", "registration token unknown", nil)},
		{name: "token expired", token: "rt_x", body: registerBody, status: 401, code: "invalid_registration_token", description: "expired",
			upstream: rpcerr.New(codes.Unauthenticated, "tokens.licensing", "REGISTRATION_TOKEN_EXPIRED", "registration token expired", nil)},
		{name: "token used up", token: "rt_x", body: registerBody, status: 401, code: "invalid_registration_token", description: "already been used",
			upstream: rpcerr.New(codes.Unauthenticated, "tokens.licensing", "REGISTRATION_TOKEN_USED_UP", "registration token used up", nil)},
		{name: "token revoked", token: "rt_x", body: registerBody, status: 401, code: "invalid_registration_token", description: "revoked",
			upstream: rpcerr.New(codes.Unauthenticated, "tokens.licensing", "REGISTRATION_TOKEN_REVOKED", "registration token revoked", nil)},
		{name: "no token", body: registerBody, status: 401, code: "invalid_registration_token", description: "missing", noUpstream: true},
		{name: "invalid field upstream", token: "rt_x", body: registerBody, status: 400, code: "invalid_request", description: "email",
			upstream: rpcerr.InvalidArgument("registry.licensing", "INVALID_REQUEST", rpcerr.FieldViolation{Field: "email", Description: "not an e-mail address"})},
		{name: "outage", token: "rt_x", body: registerBody, status: 503, code: "temporarily_unavailable", description: "retry", upstream: unavailable},
		{name: "deadline", token: "rt_x", body: registerBody, status: 503, code: "temporarily_unavailable", description: "retry",
			upstream: status.Error(codes.DeadlineExceeded, "deadline")},
		{name: "bare unauthenticated is not a token error", token: "rt_x", body: registerBody, status: 500, code: "server_error", description: "internal",
			upstream: status.Error(codes.Unauthenticated, "invalid API key")},
		{name: "body not JSON", token: "rt_x", body: `email=a@example.com`, status: 400, code: "invalid_request", description: "JSON", noUpstream: true},
		{name: "empty body", token: "rt_x", body: "", status: 400, code: "invalid_request", description: "empty", noUpstream: true},
		{name: "JSON array", token: "rt_x", body: `[]`, status: 400, code: "invalid_request", description: "JSON object", noUpstream: true},
		{name: "JSON null", token: "rt_x", body: `null`, status: 400, code: "invalid_request", description: "JSON object", noUpstream: true},
		{name: "redirect_uris not an array", token: "rt_x", body: `{"redirect_uris":"https://x"}`, status: 400, code: "invalid_request", description: "redirect_uris", noUpstream: true},
		{name: "email not a string", token: "rt_x", body: `{"email":42}`, status: 400, code: "invalid_request", description: "email", noUpstream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{})
			e.fakes.set(func(f *fakes) { f.registerErr = tt.upstream })
			rec := e.do(t, register(t, tt.token, tt.body))
			desc := errorBody(t, rec, tt.status, tt.code)
			if !strings.Contains(strings.ToLower(desc), strings.ToLower(tt.description)) {
				t.Fatalf("description %q does not say %q", desc, tt.description)
			}
			registers, _, _ := e.fakes.recorded()
			if tt.noUpstream && len(registers) != 0 {
				t.Fatalf("the registry was called for a request the gateway must refuse itself")
			}
		})
	}
}

// The signer being down must not lose a registration whose one-time secret
// is already issued: the workspace gets its credentials, and the key on sync.
func TestRegisterWithoutLicenseKey(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	e.fakes.set(func(f *fakes) { f.signerErr = unavailable })
	body := jsonBody(t, e.do(t, register(t, "rt_token", registerBody)), http.StatusCreated)
	if body["client_secret"] != "cs_secret" {
		t.Fatalf("body = %v", body)
	}
}

// A misconfigured service key makes the internal services refuse the
// gateway; that is the gateway's fault, never the workspace's, so it must not
// look like a bad registration token or bad client credentials.
func TestWrongServiceKeyIsNeverA401(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{apiKey: "wrong-key"})
	rec := e.do(t, register(t, "rt_token", registerBody))
	errorBody(t, rec, http.StatusInternalServerError, "server_error")

	rec = e.do(t, tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s", nil))
	errorBody(t, rec, http.StatusInternalServerError, "server_error")
}
