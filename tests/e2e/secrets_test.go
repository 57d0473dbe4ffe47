package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	sys.Stop() // flush the span exporters

	secrets := map[string]string{
		"registration token": token,
		"client secret":      creds.ClientSecret,
		"access token":       tok.AccessToken,
		"access token body":  strings.Split(tok.AccessToken, ".")[1],
		"license":            strings.Split(resp.License, ".")[1],
		"admin API key":      sys.AdminKey,
		"service API key":    sys.ServiceKey,
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
