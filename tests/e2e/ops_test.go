package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/tests/stack"
)

// TestConfigurationErrorsAreClear starts each service with an empty
// environment: it must refuse to start and name what is missing.
func TestConfigurationErrorsAreClear(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"tokens":   {"DATABASE_URL", "NATS_URL", "SERVICE_API_KEY", "TOKEN_SIGNING_KEY_FILE"},
		"registry": {"DATABASE_URL", "TOKENS_ADDR"},
		"signer":   {"LICENSE_SIGNING_KEY_FILE", "REGISTRY_ADDR"},
		"sync":     {"SIGNER_ADDR"},
		"gateway":  {"REGISTRY_ADDR", "SYNC_ADDR", "SERVICE_API_KEY"},
		"console":  {"DATABASE_URL", "PUBLIC_URL", "CLOUD_URL", "SERVICE_API_KEY"},
	}
	for _, name := range stack.Services {
		cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, name))
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s started without configuration", name)
			continue
		}
		for _, v := range want[name] {
			if !strings.Contains(string(out), v) {
				t.Errorf("%s's error does not name %s:\n%s", name, v, out)
			}
		}
	}
}

// TestMetricsAndHealth: every service serves Prometheus metrics, including
// the outbox and consumer counters of the event services.
func TestMetricsAndHealth(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	createToken(t, sys, createCustomer(t, sys, "Metrics"), "", 1) // some traffic
	for _, name := range stack.Services {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sys.MetricsURL[name], nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s metrics: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
			t.Errorf("%s metrics: status %d, go_goroutines missing", name, resp.StatusCode)
		}
		if name == "registry" && !strings.Contains(string(body), "rpc_server_call_duration") {
			t.Errorf("registry metrics lack the gRPC server histogram")
		}
	}
	resp, err := http.Get(sys.GatewayURL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("gateway /healthz: %v %v", resp, err)
	}
}
