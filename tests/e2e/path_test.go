package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestWholePath drives the foundation's six steps: token by licensectl,
// registration, access token, first license from the registration event,
// first sync, offline verification.
func TestWholePath(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()

	// 1. An admin creates a customer and a registration token bound to a plan.
	customerID := createCustomer(t, sys, "Acme")
	token := createToken(t, sys, customerID, "pro", 1)

	// 2. A workspace registers with the token through the gateway.
	ws := workspace.New(sys.GatewayURL)
	creds, err := ws.Register(ctx, token, "admin@acme.test", "Acme Chat")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if len(creds.WorkspaceID) != 24 || creds.ClientID == "" || creds.ClientSecret == "" {
		t.Fatalf("credentials incomplete: %+v", creds)
	}
	if want := sys.GatewayURL + "/api/v2/workspaces/" + creds.WorkspaceID; creds.RegistrationClientURI != want {
		t.Errorf("registration_client_uri = %q, want %q", creds.RegistrationClientURI, want)
	}
	pub, err := keys.ParsePublicKey(creds.PublicKey)
	if err != nil {
		t.Fatalf("publicKey in the registration answer: %v", err)
	}

	// 3. It exchanges the credentials for an access token.
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || !strings.Contains(tok.Scope, "workspace:license:read") {
		t.Fatalf("token response: %+v", tok)
	}

	// 4. The signer, reacting to workspace.registered, issues license 1 for the token's plan.
	admin, err := sys.Client(sys.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var first *signerv1.License
	eventually(t, 20*time.Second, "the first license from the registration event", func() (bool, error) {
		resp, err := admin.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: creds.WorkspaceID})
		if err != nil || len(resp.GetLicenses()) == 0 {
			return false, err
		}
		first = resp.GetLicenses()[len(resp.GetLicenses())-1]
		return true, nil
	})
	if first.GetSequence() != 1 || first.GetPlanId() != "pro" {
		t.Fatalf("first license: sequence %d plan %q, want 1 and pro", first.GetSequence(), first.GetPlanId())
	}

	// 5. The workspace syncs and receives a license bound to it.
	resp, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, workspace.RegistrationData{
		UniqueID: "unique-1", WorkspaceID: creds.WorkspaceID, Address: "https://Chat.Acme.test/", Seats: 42, MAC: 7, Version: "7.2.1",
	})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if resp.WorkspaceID != creds.WorkspaceID || resp.RemoveLicense || !strings.HasPrefix(resp.License, "RCV3_") || string(resp.CloudSyncAnnouncement) != "null" {
		t.Fatalf("sync response: %+v", resp)
	}

	// 6. The license verifies offline with the public key alone.
	doc, err := license.VerifyWithKey(resp.License, pub)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if doc.Validation.CloudWorkspaceID != creds.WorkspaceID {
		t.Errorf("cloudWorkspaceId = %q", doc.Validation.CloudWorkspaceID)
	}
	if len(doc.Validation.ServerURLs) != 1 || doc.Validation.ServerURLs[0].Value != "chat.acme.test" || doc.Validation.ServerURLs[0].Type != "url" {
		t.Errorf("serverUrls = %+v, want the stripped reported address", doc.Validation.ServerURLs)
	}
	if !doc.MatchesAddress("https://chat.acme.test/") {
		t.Error("license does not match the workspace's own address")
	}
	sum := doc.Summarize(time.Now())
	if !sum.Valid || sum.PlanID != "pro" || len(sum.Modules) == 0 {
		t.Errorf("summary: %+v", sum)
	}

	file := filepath.Join(t.TempDir(), "license.txt")
	if err := os.WriteFile(file, []byte(resp.License+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := sys.Licensectl(ctx, "", "license", "verify", "-public-key-v2", keys.PublicKeyV2(pub), file)
	if err != nil {
		t.Fatalf("licensectl license verify: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"signature:   verified", "pro", creds.WorkspaceID, "chat.acme.test", ": VALID"} {
		if !strings.Contains(out, want) {
			t.Errorf("licensectl output lacks %q:\n%s", want, out)
		}
	}
	// The same from the PEM file, as JSON.
	pemFile := filepath.Join(t.TempDir(), "key.pem")
	_ = os.WriteFile(pemFile, []byte(creds.PublicKey), 0o600)
	out, _, err = sys.Licensectl(ctx, "", "license", "verify", "-o", "json", "-public-key", pemFile, file)
	if err != nil {
		t.Fatalf("licensectl license verify -o json: %v", err)
	}
	var js license.Summary
	if err := json.Unmarshal([]byte(out), &js); err != nil || !js.Valid || js.WorkspaceID != creds.WorkspaceID {
		t.Fatalf("json summary %q: %v", out, err)
	}
	// The key licensectl prints is the one that verifies.
	v2, _, err := sys.Licensectl(ctx, "", "keys", "public", "-v2")
	if err != nil || strings.TrimSpace(v2) != keys.PublicKeyV2(pub) {
		t.Fatalf("licensectl keys public -v2 = %q (%v), want the registration's key", v2, err)
	}

	// A second sync from the same address returns the same license; the view
	// never goes back.
	again, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, workspace.RegistrationData{UniqueID: "unique-1", Address: "chat.acme.test", Version: "7.2.1"})
	if err != nil || again.License != resp.License {
		t.Fatalf("second sync changed the license (err %v)", err)
	}
}

func createCustomer(t *testing.T, sys *system, name string) string {
	t.Helper()
	out, errOut, err := sys.Licensectl(t.Context(), "", "customers", "create", "-name", name, "-o", "json")
	if err != nil {
		t.Fatalf("licensectl customers create: %v\n%s", err, errOut)
	}
	var resp struct {
		Customer struct{ ID string } `json:"customer"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Customer.ID == "" {
		t.Fatalf("customers create output %q: %v", out, err)
	}
	return resp.Customer.ID
}

func createToken(t *testing.T, sys *system, customerID, plan string, maxUses int) string {
	t.Helper()
	args := []string{"tokens", "create", "-customer", customerID, "-max-uses", itoa(maxUses), "-o", "json"}
	if plan != "" {
		args = append(args, "-plan", plan)
	}
	out, errOut, err := sys.Licensectl(t.Context(), "", args...)
	if err != nil {
		t.Fatalf("licensectl tokens create: %v\n%s", err, errOut)
	}
	var resp struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Secret == "" {
		t.Fatalf("tokens create output %q: %v", out, err)
	}
	return resp.Secret
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var _ = context.Background
