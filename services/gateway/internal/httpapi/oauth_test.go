package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

const defaultScopes = "workspace:license:read workspace:client:write workspace:stats:write workspace:push:send marketplace:read marketplace:download fedhub:register"

func tokenRequest(t testing.TB, form string, h http.Header) *http.Request {
	t.Helper()
	return newRequest(t, http.MethodPost, "/api/oauth/token", "application/x-www-form-urlencoded", form, h)
}

func TestAccessTokenSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		form                string
		basicID, basicPass  string
		wantID, wantSecret  string
		wantScopeToUpstream string
	}{
		{
			name:   "form credentials as a stock workspace sends them",
			form:   url.Values{"client_id": {"client-1"}, "client_secret": {"cs_secret"}, "scope": {defaultScopes}, "grant_type": {"client_credentials"}, "redirect_uri": {"https://chat.example.com/admin/cloud/oauth-callback"}}.Encode(),
			wantID: "client-1", wantSecret: "cs_secret", wantScopeToUpstream: defaultScopes,
		},
		{
			name:    "HTTP Basic client authentication",
			form:    "grant_type=client_credentials&scope=workspace%3Alicense%3Aread",
			basicID: "client-2", basicPass: "cs_basic",
			wantID: "client-2", wantSecret: "cs_basic", wantScopeToUpstream: "workspace:license:read",
		},
		{
			name:    "form fields win over Basic",
			form:    "grant_type=client_credentials&client_id=client-3&client_secret=cs_form",
			basicID: "client-4", basicPass: "cs_basic",
			wantID: "client-3", wantSecret: "cs_form",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{})
			e.fakes.set(func(f *fakes) {
				f.issueResp = &tokensv1.IssueAccessTokenResponse{AccessToken: "eyJ.signed.token", ExpiresIn: 3600, Scope: "workspace:license:read", WorkspaceId: "ws-1"}
			})
			r := tokenRequest(t, tt.form, nil)
			if tt.basicID != "" {
				r.SetBasicAuth(tt.basicID, tt.basicPass)
			}
			body := jsonBody(t, e.do(t, r), http.StatusOK)
			if body["access_token"] != "eyJ.signed.token" || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["scope"] != "workspace:license:read" || len(body) != 4 {
				t.Fatalf("body = %v", body)
			}
			_, issues, _ := e.fakes.recorded()
			if len(issues) != 1 {
				t.Fatalf("token service called %d times", len(issues))
			}
			if got := issues[0]; got.GetClientId() != tt.wantID || got.GetClientSecret() != tt.wantSecret || got.GetScope() != tt.wantScopeToUpstream {
				t.Fatalf("token service request = %v", got)
			}
		})
	}
}

func TestAccessTokenErrors(t *testing.T) {
	t.Parallel()
	valid := "grant_type=client_credentials&client_id=client-1&client_secret=cs_secret"
	tests := []struct {
		name        string
		contentType string
		form        string
		upstream    error
		status      int
		code        string
		description string
		noUpstream  bool
	}{
		{name: "missing grant_type", form: "client_id=c&client_secret=s", status: 400, code: "invalid_request", description: "grant_type", noUpstream: true},
		{name: "unsupported grant", form: "grant_type=password&client_id=c&client_secret=s", status: 400, code: "unsupported_grant_type", description: "password", noUpstream: true},
		{name: "authorization code grant", form: "grant_type=authorization_code&code=x", status: 400, code: "unsupported_grant_type", description: "client_credentials", noUpstream: true},
		{name: "missing client_id", form: "grant_type=client_credentials&client_secret=s", status: 400, code: "invalid_request", description: "client_id", noUpstream: true},
		{name: "missing client_secret", form: "grant_type=client_credentials&client_id=c", status: 400, code: "invalid_request", description: "client_secret", noUpstream: true},
		{name: "no client at all", form: "grant_type=client_credentials", status: 400, code: "invalid_request", description: "client_id", noUpstream: true},
		{name: "JSON instead of a form", contentType: "application/json", form: `{"grant_type":"client_credentials"}`, status: 400, code: "invalid_request", description: "grant_type", noUpstream: true},
		{name: "malformed form", form: "grant_type=%zz", status: 400, code: "invalid_request", description: "x-www-form-urlencoded", noUpstream: true},
		{name: "bad credentials", form: valid, status: 401, code: "oauth_invalid_client_credentials", description: "invalid",
			upstream: rpcerr.New(codes.Unauthenticated, "tokens.licensing", "INVALID_CLIENT_CREDENTIALS", "invalid client credentials", nil)},
		{name: "scope not allowed", form: valid + "&scope=admin%3Aall", status: 400, code: "invalid_scope", description: "scope",
			upstream: rpcerr.New(codes.InvalidArgument, "tokens.licensing", "INVALID_SCOPE", "none of the requested scopes is allowed", nil)},
		{name: "invalid request upstream", form: valid, status: 400, code: "invalid_request", description: "client_id",
			upstream: rpcerr.InvalidArgument("tokens.licensing", "INVALID_REQUEST", rpcerr.FieldViolation{Field: "client_id", Description: "required"})},
		{name: "outage", form: valid, status: 503, code: "temporarily_unavailable", description: "retry", upstream: unavailable},
		{name: "outage without reason", form: valid, status: 503, code: "temporarily_unavailable", description: "retry", upstream: status.Error(codes.Unavailable, "connection refused")},
		{name: "deadline", form: valid, status: 503, code: "temporarily_unavailable", description: "retry", upstream: status.Error(codes.DeadlineExceeded, "deadline")},
		// The gateway itself refused (wrong service key, missing policy):
		// never the code that makes a workspace forget its registration.
		{name: "gateway refused upstream", form: valid, status: 500, code: "server_error", description: "internal", upstream: status.Error(codes.Unauthenticated, "invalid API key")},
		{name: "gateway not allowed upstream", form: valid, status: 500, code: "server_error", description: "internal", upstream: status.Error(codes.PermissionDenied, "role")},
		{name: "upstream internal error", form: valid, status: 500, code: "server_error", description: "internal", upstream: status.Error(codes.Internal, "boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{})
			e.fakes.set(func(f *fakes) { f.issueErr = tt.upstream })
			ct := tt.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			rec := e.do(t, newRequest(t, http.MethodPost, "/api/oauth/token", ct, tt.form, nil))
			desc := errorBody(t, rec, tt.status, tt.code)
			if !strings.Contains(strings.ToLower(desc), strings.ToLower(tt.description)) {
				t.Fatalf("description %q does not mention %q", desc, tt.description)
			}
			if _, issues, _ := e.fakes.recorded(); tt.noUpstream && len(issues) != 0 {
				t.Fatal("the token service was called for a request the gateway must refuse itself")
			}
		})
	}
}
