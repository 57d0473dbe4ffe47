package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/tests/stack"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestNoSecretsInLogsOrSpans runs the whole path with debug logs and traces
// on, including refused requests that echo what they were sent, then searches
// every log line and span the services wrote for the secrets that passed
// through them.
func TestNoSecretsInLogsOrSpans(t *testing.T) {
	sys := startSystem(t, true, "LOG_LEVEL=debug")
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	token := createToken(t, sys, createCustomer(t, sys, "Secretive"), "", 1)
	creds, err := ws.Register(ctx, token, "s@secret.test", "secret")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, workspace.RegistrationData{UniqueID: "u", Address: "s.secret.test", Version: "7.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	// Refused attempts carry secrets too.
	_, _ = ws.Register(ctx, token, "again@secret.test", "again")
	_, _ = ws.Token(ctx, creds.ClientID, creds.ClientSecret+"-wrong", "")
	_, _ = ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken+"x", workspace.RegistrationData{UniqueID: "u", Address: "s.secret.test", Version: "7.2.1"})
	// Internal callers' secrets: a created role key that is used, an
	// unknown key that is refused, and an offline license issued for support.
	admin := adminClient(t, sys)
	billing, err := admin.Tokens.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "billing", Role: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	billingClient, err := sys.Client(billing.GetKey())
	if err != nil {
		t.Fatal(err)
	}
	defer billingClient.Close()
	if _, err := billingClient.Registry.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{}); err != nil {
		t.Fatal(err)
	}
	const unknownKey = "lak_unknownUnknownUnknownUnknownUnknownUnknown"
	stranger, err := sys.Client(unknownKey)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	_, _ = stranger.Registry.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{})
	offline, err := admin.Signer.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: "secrets-offline", WorkspaceId: creds.WorkspaceID})
	if err != nil {
		t.Fatal(err)
	}
	sys.Stop() // flush the span exporters

	secrets := map[string]string{
		"registration token": token,
		"client secret":      creds.ClientSecret,
		"access token":       tok.AccessToken,
		"access token body":  strings.Split(tok.AccessToken, ".")[1],
		"license":            strings.Split(resp.License, ".")[1],
		"admin API key":      sys.AdminKey,
		"service API key":    sys.ServiceKey,
		"created API key":    billing.GetKey(),
		"unknown API key":    unknownKey,
		"license signature":  strings.Split(resp.License, ".")[2],
		"offline license":    strings.Split(offline.GetLicense().GetToken(), ".")[1],
		"intent secret key":  sys.IntentKey,
	}
	// And the private keys: any line of their PEM bodies.
	for _, k := range []string{"access-token.pem", "license.pem"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(sys.LogFile("tokens")), "keys", k))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		secrets["private key "+k] = lines[len(lines)/2]
	}
	var files []string
	for _, name := range stack.Services {
		files = append(files, sys.LogFile(name), sys.TraceFile(name))
	}
	read := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		read += len(b)
		for what, secret := range secrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s leaked into %s", what, filepath.Base(f))
			}
		}
	}
	if read < 10000 {
		t.Fatalf("only %d bytes of logs and spans: the run did not record enough to show anything", read)
	}
}
