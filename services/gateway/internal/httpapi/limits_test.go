package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
)

// A body over MAX_BODY_BYTES is 413 on every endpoint that reads one, and
// never reaches an internal service.
func TestBodyOverLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	big := strings.Repeat("x", limit+1)
	tests := []struct {
		name string
		req  func(t testing.TB) *http.Request
	}{
		{"register", func(t testing.TB) *http.Request {
			return register(t, "rt_token", `{"email":"a@example.com","client_name":"`+big+`"}`)
		}},
		{"token", func(t testing.TB) *http.Request {
			return tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s&scope="+big, nil)
		}},
		{"sync", func(t testing.TB) *http.Request {
			return syncRequest(t, syncPath, signToken(t, tokenSpec{ws: ws, scope: "workspace:license:read"}), `{"uniqueId":"`+big+`"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, envOptions{opts: httpapi.Options{MaxBodyBytes: limit}})
			desc := errorBody(t, e.do(t, tt.req(t)), http.StatusRequestEntityTooLarge, "invalid_request")
			if !strings.Contains(desc, strconv.Itoa(limit)) {
				t.Errorf("description %q does not say the limit", desc)
			}
			registers, issues, syncs := e.fakes.recorded()
			if len(registers)+len(issues)+len(syncs) != 0 {
				t.Fatal("an oversized request reached an internal service")
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		t.Parallel()
		e := start(t, envOptions{opts: httpapi.Options{MaxBodyBytes: limit}})
		body := `{"client_name":"`
		body += strings.Repeat("x", limit-len(body)-2) + `"}`
		jsonBody(t, e.do(t, register(t, "rt_token", body)), http.StatusCreated)
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{opts: httpapi.Options{RateLimit: 0.001, RateBurst: 2}})
	from := func(addr string) *http.Request {
		r := tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s", nil)
		r.RemoteAddr = addr
		return r
	}
	for i := range 2 {
		if rec := e.do(t, from("192.0.2.10:1000")); rec.Code == http.StatusTooManyRequests {
			t.Fatalf("request %d within the burst got 429", i+1)
		}
	}
	rec := e.do(t, from("192.0.2.10:2000")) // same client, another port
	errorBody(t, rec, http.StatusTooManyRequests, "too_many_requests")
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After = %q, want a positive number of seconds", rec.Header().Get("Retry-After"))
	}
	// Another client has its own bucket.
	if rec := e.do(t, from("198.51.100.7:1000")); rec.Code == http.StatusTooManyRequests {
		t.Fatal("another client was limited too")
	}
	// The limited request never reached the token service.
	if _, issues, _ := e.fakes.recorded(); len(issues) != 3 {
		t.Fatalf("token service saw %d requests, want 3", len(issues))
	}
}

func TestUnknownEndpoint(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	for _, r := range []*http.Request{
		newRequest(t, http.MethodGet, "/api/v2/nowhere", "", "", nil),
		newRequest(t, http.MethodGet, "/api/oauth/clients", "", "", nil),
		newRequest(t, http.MethodGet, syncPath, "", "", nil),
	} {
		errorBody(t, e.do(t, r), http.StatusNotFound, "not_found")
	}
	if rec := e.do(t, newRequest(t, http.MethodGet, "/healthz", "", "", nil)); rec.Code != http.StatusNoContent {
		t.Fatalf("healthz = %d", rec.Code)
	}
}

// Every answer of a limited endpoint carries the standard rate-limit
// headers, counting down with the client's requests.
func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{opts: httpapi.Options{RateLimit: 0.001, RateBurst: 3}})
	for i := range 3 {
		rec := e.do(t, tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s", nil))
		h := rec.Header()
		if h.Get("RateLimit-Limit") != "3" || h.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: RateLimit-Limit %q, -Remaining %q; want 3 and %d", i+1, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), 2-i)
		}
		if reset, err := strconv.Atoi(h.Get("RateLimit-Reset")); err != nil || reset < 1 {
			t.Fatalf("RateLimit-Reset %q, want a positive number of seconds", h.Get("RateLimit-Reset"))
		}
		if h.Get("Retry-After") != "" {
			t.Fatal("Retry-After on an accepted request")
		}
	}
	rec := e.do(t, tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s", nil))
	errorBody(t, rec, http.StatusTooManyRequests, "too_many_requests")
	if rec.Header().Get("RateLimit-Remaining") != "0" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("429 headers %v", rec.Header())
	}
}

// X-Forwarded-For decides the client only from a trusted proxy: from anyone
// else a forged header buys no fresh bucket.
func TestRateLimitForwardedFor(t *testing.T) {
	t.Parallel()
	proxies, err := httpapi.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, envOptions{opts: httpapi.Options{RateLimit: 0.001, RateBurst: 1, TrustedProxies: proxies}})
	req := func(remote, forwarded string) int {
		r := tokenRequest(t, "grant_type=client_credentials&client_id=c&client_secret=s", nil)
		r.RemoteAddr = remote
		if forwarded != "" {
			r.Header.Set("X-Forwarded-For", forwarded)
		}
		return e.do(t, r).Code
	}
	// An untrusted client forging the header is still itself.
	if code := req("198.51.100.1:1", "203.0.113.1"); code == http.StatusTooManyRequests {
		t.Fatal("first request limited")
	}
	if code := req("198.51.100.1:1", "203.0.113.2"); code != http.StatusTooManyRequests {
		t.Fatalf("a forged X-Forwarded-For got a fresh bucket (%d)", code)
	}
	// Two clients behind one trusted proxy each have their bucket.
	if code := req("10.0.0.5:1", "203.0.113.7"); code == http.StatusTooManyRequests {
		t.Fatal("first client behind the proxy limited")
	}
	if code := req("10.0.0.5:1", "203.0.113.8"); code == http.StatusTooManyRequests {
		t.Fatal("second client behind the proxy limited by the first's bucket")
	}
	if code := req("10.0.0.5:1", "203.0.113.7"); code != http.StatusTooManyRequests {
		t.Fatalf("the first client behind the proxy was not limited again (%d)", code)
	}
}

// The per-workspace limit keys on the verified access token: one workspace
// syncing from many addresses is limited, another workspace is not, and a
// request without a valid token spends nobody's budget.
func TestWorkspaceRateLimit(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{opts: httpapi.Options{RateLimit: 1000, RateBurst: 1000, WorkspaceRateLimit: 0.001, WorkspaceRateBurst: 2}})
	tok := signToken(t, tokenSpec{ws: ws, scope: defaultScopes})
	from := func(addr, token string) *http.Request {
		r := syncRequest(t, syncPath, token, syncBody)
		r.RemoteAddr = addr
		return r
	}
	// Forged and missing tokens for the workspace's URL use none of its budget.
	for range 5 {
		errorBody(t, e.do(t, from("203.0.113.50:1", "not-a-token")), http.StatusUnauthorized, "invalid_token")
		errorBody(t, e.do(t, from("203.0.113.50:1", "")), http.StatusUnauthorized, "invalid_token")
	}
	for i := range 2 {
		rec := e.do(t, from("192.0.2."+strconv.Itoa(i+1)+":1", tok))
		jsonBody(t, rec, http.StatusOK)
		if got := rec.Header().Get("RateLimit-Remaining"); got != strconv.Itoa(1-i) {
			t.Fatalf("sync %d: RateLimit-Remaining %q, want the workspace's %d", i+1, got, 1-i)
		}
	}
	rec := e.do(t, from("192.0.2.9:1", tok))
	desc := errorBody(t, rec, http.StatusTooManyRequests, "too_many_requests")
	if !strings.Contains(desc, "workspace") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("429 %q with headers %v, want the workspace named and Retry-After", desc, rec.Header())
	}
	if _, _, syncs := e.fakes.recorded(); len(syncs) != 2 {
		t.Fatalf("sync service saw %d syncs, want 2", len(syncs))
	}
	const otherWS = "fedcba9876543210fedcba98"
	other := signToken(t, tokenSpec{ws: otherWS, scope: defaultScopes})
	r := syncRequest(t, "/api/v2/workspaces/"+otherWS+"/sync", other, strings.ReplaceAll(syncBody, ws, otherWS))
	r.RemoteAddr = "192.0.2.9:1"
	jsonBody(t, e.do(t, r), http.StatusOK)
}

// Every route that reads a body refuses one over MAX_BODY_BYTES with 413,
// whatever the caller presents, and asks no internal service.
func TestBodyOverLimitOnEveryRoute(t *testing.T) {
	t.Parallel()
	const limit = 512
	e := start(t, envOptions{opts: httpapi.Options{MaxBodyBytes: limit}})
	tok := signToken(t, tokenSpec{ws: ws, scope: defaultScopes})
	big := `{"uniqueId":"` + strings.Repeat("x", limit) + `"}`
	form := "code=" + strings.Repeat("x", limit)
	for _, rt := range []struct {
		path, contentType, bearer, body string
	}{
		{"/api/oauth/clients", "application/json", "rt_token", big},
		{"/api/oauth/token", "application/x-www-form-urlencoded", "", "grant_type=client_credentials&" + form},
		{syncPath, "application/json", tok, big},
		{"/api/v2/workspaces/" + ws + "/client", "application/json", tok, big},
		{"/api/v2/workspaces/" + ws + "/client/downgrade", "application/json", tok, big},
		{"/api/v3/comms/workspace", "application/json", tok, big},
		{"/api/v2/register/workspace/pre-intent", "application/json", "", big},
		{"/api/v2/register/workspace/intent", "application/json", "", big},
		{"/api/v2/register/workspace", "application/json", "", big},
		{"/register/confirm", "application/x-www-form-urlencoded", "", form},
	} {
		var h http.Header
		if rt.bearer != "" {
			h = bearer(rt.bearer)
		}
		if rec := e.do(t, newRequest(t, http.MethodPost, rt.path, rt.contentType, rt.body, h)); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with %d bytes: %d, want 413", rt.path, len(rt.body), rec.Code)
		}
	}
	registers, issues, syncs := e.fakes.recorded()
	if len(registers)+len(issues)+len(syncs) != 0 {
		t.Fatal("an oversized request reached an internal service")
	}
}
