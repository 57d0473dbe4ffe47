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
