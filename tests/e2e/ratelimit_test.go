package e2e

import (
	"net/http"
	"testing"

	"github.com/cloudlicense/authority/tests/workspace"
)

// TestRateLimitsThroughTheGateway: the limits as configured by environment
// on the running gateway. A workspace over its own limit gets 429 with
// Retry-After and the RateLimit headers while another workspace syncs on; and
// behind a trusted proxy each forwarded client address has its own bucket.
func TestRateLimitsThroughTheGateway(t *testing.T) {
	sys := startSystem(t, false,
		"RATE_LIMIT_PER_SECOND=0.001", "RATE_LIMIT_BURST=40",
		"WORKSPACE_RATE_LIMIT_PER_SECOND=0.001", "WORKSPACE_RATE_LIMIT_BURST=2",
		"TRUSTED_PROXIES=127.0.0.1/32")
	ws := workspace.New(sys.GatewayURL)
	token := createToken(t, sys, createCustomer(t, sys, "Limited"), "", 2)
	a := registerWorkspace(t, sys, ws, token, "alpha", "https://alpha.limited.test")
	b := registerWorkspace(t, sys, ws, token, "beta", "https://beta.limited.test")

	for i := range 2 {
		x := call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", a.body(t))
		if x.status != http.StatusOK || x.header.Get("RateLimit-Remaining") != itoa(1-i) {
			t.Fatalf("sync %d: %d, RateLimit-Remaining %q", i+1, x.status, x.header.Get("RateLimit-Remaining"))
		}
	}
	x := call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", a.body(t))
	x.fails(t, http.StatusTooManyRequests, "too_many_requests", "workspace")
	if x.header.Get("Retry-After") == "" || x.header.Get("RateLimit-Limit") != "2" || x.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("429 headers: %v", x.header)
	}
	if x := call(t, sys, http.MethodPost, b.wsPath("/sync"), b.full, "application/json", b.body(t)); x.status != http.StatusOK {
		t.Fatalf("another workspace: %d %s", x.status, x.raw)
	}

	// The test reaches the gateway from 127.0.0.1, a trusted proxy here.
	versions := func(client string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, sys.GatewayURL+"/v2/server/supportedVersions", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 40 {
		if code := versions("203.0.113.1"); code != http.StatusOK {
			t.Fatalf("within the burst: %d", code)
		}
	}
	if code := versions("203.0.113.1"); code != http.StatusTooManyRequests {
		t.Fatalf("the forwarded client past its burst: %d, want 429", code)
	}
	if code := versions("203.0.113.2"); code != http.StatusOK {
		t.Fatalf("another forwarded client: %d, want its own bucket", code)
	}
}
