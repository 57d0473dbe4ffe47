package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

const (
	ws       = "0123456789abcdef01234567"
	syncPath = "/api/v2/workspaces/" + ws + "/sync"
	syncBody = `{"uniqueId":"u-1","workspaceId":"` + ws + `","address":"https://chat.example.com","siteName":"Example","seats":42,"MAC":7,"version":"7.2.1","connectionDisable":false,"deploymentMethod":"docker"}`
)

func syncRequest(t testing.TB, path, token, body string) *http.Request {
	t.Helper()
	var h http.Header
	if token != "" {
		h = bearer(token)
	}
	return newRequest(t, http.MethodPost, path, "application/json", body, h)
}

func TestSyncSuccess(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	tok := signToken(t, tokenSpec{ws: ws, scope: defaultScopes})
	body := jsonBody(t, e.do(t, syncRequest(t, syncPath, tok, syncBody)), http.StatusOK)

	want := map[string]any{
		"workspaceId":           ws,
		"publicKey":             keys.PublicKeyPEM(&rsaKey("license").PublicKey),
		"license":               "RCV3_test.license.jwt",
		"removeLicense":         false,
		"cloudSyncAnnouncement": nil,
	}
	if len(body) != len(want) {
		t.Fatalf("body fields %v, want %v", body, want)
	}
	for k, v := range want {
		got, ok := body[k]
		if !ok || got != v {
			t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, v)
		}
	}

	_, _, syncs := e.fakes.recorded()
	if len(syncs) != 1 {
		t.Fatalf("sync called %d times", len(syncs))
	}
	r := syncs[0]
	rep := r.GetReport()
	if r.GetWorkspaceId() != ws || rep.GetUniqueId() != "u-1" || rep.GetAddress() != "https://chat.example.com" || rep.GetVersion() != "7.2.1" ||
		rep.GetSiteName() != "Example" || rep.GetSeats() != 42 || rep.GetMonthlyActiveContacts() != 7 || rep.GetConnectionDisabled() {
		t.Fatalf("sync request = %v", r)
	}
	if !json.Valid([]byte(rep.GetRawJson())) || !strings.Contains(rep.GetRawJson(), `"deploymentMethod":"docker"`) {
		t.Fatalf("raw report %q, want the body as sent", rep.GetRawJson())
	}
}

func TestSyncRemoveLicense(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	e.fakes.set(func(f *fakes) {
		f.syncView = &syncv1.SyncView{WorkspaceId: ws, RemoveLicense: true, License: "RCV3_old"}
	})
	body := jsonBody(t, e.do(t, syncRequest(t, syncPath, signToken(t, tokenSpec{ws: ws, scope: "workspace:license:read"}), syncBody)), http.StatusOK)
	if body["removeLicense"] != true || body["license"] != "RCV3_old" {
		t.Fatalf("body = %v", body)
	}
}

// Usage counts are stats: without workspace:stats:write the sync goes
// through, but the counts are not passed on.
func TestSyncStatsNeedTheirScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scope      string
		seats, mac int64
	}{
		{"with stats scope", "workspace:license:read workspace:stats:write", 42, 7},
		{"without stats scope", "workspace:license:read workspace:client:write", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{})
			jsonBody(t, e.do(t, syncRequest(t, syncPath, signToken(t, tokenSpec{ws: ws, scope: tt.scope}), syncBody)), http.StatusOK)
			_, _, syncs := e.fakes.recorded()
			if len(syncs) != 1 {
				t.Fatalf("sync called %d times", len(syncs))
			}
			if rep := syncs[0].GetReport(); rep.GetSeats() != tt.seats || rep.GetMonthlyActiveContacts() != tt.mac {
				t.Fatalf("seats %d MAC %d reached sync, want %d %d", rep.GetSeats(), rep.GetMonthlyActiveContacts(), tt.seats, tt.mac)
			}
		})
	}
}

func TestSyncErrors(t *testing.T) {
	t.Parallel()
	full := "workspace:license:read workspace:stats:write"
	tests := []struct {
		name        string
		path        string
		token       func(t testing.TB) string
		body        string
		keysErr     error
		syncErr     error
		status      int
		code        string
		description string
		noSync      bool
	}{
		{name: "no token", token: func(testing.TB) string { return "" }, status: 401, code: "invalid_token", description: "missing", noSync: true},
		{name: "not a JWT", token: func(testing.TB) string { return "not-a-token" }, status: 401, code: "invalid_token", description: "invalid", noSync: true},
		{name: "expired", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{ws: ws, scope: full, exp: time.Now().Add(-time.Second)})
		}, status: 401, code: "invalid_token", description: "expired", noSync: true},
		{name: "signed by another key", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{key: "other", ws: ws, scope: full})
		}, status: 401, code: "invalid_token", description: "invalid", noSync: true},
		{name: "unknown key id", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{key: "other", kid: "other-kid", ws: ws, scope: full})
		}, status: 401, code: "invalid_token", description: "invalid", noSync: true},
		{name: "not a workspace token", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{ws: ws, scope: full, audience: "internal"})
		}, status: 401, code: "invalid_token", description: "invalid", noSync: true},
		{name: "another workspace's path", path: "/api/v2/workspaces/ffffffffffffffffffffffff/sync", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{ws: ws, scope: full})
		}, status: 404, code: "not_found", description: "workspace", noSync: true},
		{name: "missing license scope", token: func(t testing.TB) string {
			return signToken(t, tokenSpec{ws: ws, scope: "workspace:stats:write marketplace:read"})
		}, status: 403, code: "insufficient_scope", description: "workspace:license:read", noSync: true},
		{name: "body workspaceId differs", body: `{"uniqueId":"u-1","workspaceId":"ffffffffffffffffffffffff","address":"chat.example.com","version":"7.2.1"}`,
			status: 400, code: "invalid_request", description: "workspaceId", noSync: true},
		{name: "body not JSON", body: `uniqueId=u-1`, status: 400, code: "invalid_request", description: "JSON", noSync: true},
		{name: "seats not a number", body: `{"uniqueId":"u-1","seats":"many"}`, status: 400, code: "invalid_request", description: "seats", noSync: true},
		{name: "invalid registration data", status: 400, code: "invalid_registration_data", description: "version",
			syncErr: rpcerr.InvalidArgument("sync.licensing", "INVALID_REGISTRATION_DATA", rpcerr.FieldViolation{Field: "version", Description: "required"})},
		{name: "sync outage", status: 503, code: "temporarily_unavailable", description: "retry", syncErr: unavailable},
		{name: "workspace unknown to sync", status: 404, code: "not_found", description: "workspace",
			syncErr: rpcerr.New(codes.NotFound, "sync.licensing", "WORKSPACE_NOT_FOUND", "workspace not found", nil)},
		// PROTOCOL.md 4: the description is the message the workspace shows
		// its admin, as sync wrote it.
		{name: "unsupported version", status: 403, code: "unsupported_version", description: "version 6.12.3 reached the end of its support on 2025-12-10",
			syncErr: rpcerr.New(codes.FailedPrecondition, "sync.licensing", "UNSUPPORTED_VERSION", "version 6.12.3 reached the end of its support on 2025-12-10; update the workspace", nil)},
		// Keys cannot be fetched: an outage, never "your token is invalid".
		{name: "token keys unavailable", keysErr: status.Error(codes.Unavailable, "tokens down"), status: 503, code: "temporarily_unavailable", description: "retry", noSync: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{})
			e.fakes.set(func(f *fakes) { f.keysErr, f.syncErr = tt.keysErr, tt.syncErr })
			path, body := tt.path, tt.body
			if path == "" {
				path = syncPath
			}
			if body == "" {
				body = syncBody
			}
			tok := signToken(t, tokenSpec{ws: ws, scope: full})
			if tt.token != nil {
				tok = tt.token(t)
			}
			rec := e.do(t, syncRequest(t, path, tok, body))
			desc := errorBody(t, rec, tt.status, tt.code)
			if !strings.Contains(strings.ToLower(desc), strings.ToLower(tt.description)) {
				t.Fatalf("description %q does not mention %q", desc, tt.description)
			}
			if tt.status == http.StatusUnauthorized && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			if _, _, syncs := e.fakes.recorded(); tt.noSync && len(syncs) != 0 {
				t.Fatal("sync was called for a request the gateway must refuse itself")
			}
		})
	}
}

// The keys are fetched once and reused: verifying is local to the gateway.
func TestSyncVerifiesLocally(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	tok := signToken(t, tokenSpec{ws: ws, scope: "workspace:license:read"})
	for range 5 {
		jsonBody(t, e.do(t, syncRequest(t, syncPath, tok, syncBody)), http.StatusOK)
	}
	// A token naming a made-up key id does not make the gateway hammer the
	// token service either.
	for range 5 {
		bad := signToken(t, tokenSpec{key: "other", kid: "made-up", ws: ws, scope: "workspace:license:read"})
		errorBody(t, e.do(t, syncRequest(t, syncPath, bad, syncBody)), http.StatusUnauthorized, "invalid_token")
	}
	e.fakes.mu.Lock()
	calls := e.fakes.keyCalls
	e.fakes.mu.Unlock()
	if calls != 1 {
		t.Fatalf("keys fetched %d times, want once", calls)
	}
}

func TestSyncAcceptsEmptyBodyWorkspaceID(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	tok := signToken(t, tokenSpec{ws: ws, scope: "workspace:license:read"})
	jsonBody(t, e.do(t, syncRequest(t, syncPath, tok, `{"uniqueId":"u-1","workspaceId":"","address":"chat.example.com","version":"7.2.1"}`)), http.StatusOK)
}
