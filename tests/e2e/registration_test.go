package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestScenarioUnregisteredWorkspaceWithToken: a self-managed workspace that
// is not registered gets a registration token from its admin ("Use Token"),
// registers, gets an access token, syncs, and holds a license bound to it
// that verifies offline; when its admin deregisters it, its credentials stop
// working with the one error that makes a workspace forget its
// registration.
func TestScenarioUnregisteredWorkspaceWithToken(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	cus := createCustomer(t, sys, "Self Managed Ltd")
	token := createToken(t, sys, cus, "", 1)
	ws := workspace.New(sys.GatewayURL)

	creds, err := ws.Register(ctx, token, "admin@selfmanaged.test", "Self Managed Chat")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	data := workspace.RegistrationData{UniqueID: "sm-1", WorkspaceID: creds.WorkspaceID, Address: "https://chat.selfmanaged.test", Seats: 25, Version: "7.2.1"}
	var lic string
	eventually(t, 30*time.Second, "a license from sync", func() (bool, error) {
		resp, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, data)
		if err != nil {
			return false, err
		}
		lic = resp.License
		return lic != "", nil
	})
	pub, err := keys.ParsePublicKey(creds.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := license.VerifyWithKey(lic, pub)
	if err != nil {
		t.Fatalf("the synced license does not verify with the registration's public key: %v", err)
	}
	if doc.Validation.CloudWorkspaceID != "" && doc.Validation.CloudWorkspaceID != creds.WorkspaceID {
		t.Fatalf("license bound to workspace %q", doc.Validation.CloudWorkspaceID)
	}
	// The token was single-use: a second workspace is refused.
	if _, err := ws.Register(ctx, token, "other@selfmanaged.test", "Other"); err == nil {
		t.Fatal("a used-up token registered a second workspace")
	}

	if _, errOut, err := sys.Licensectl(ctx, "", "workspaces", "deregister", creds.WorkspaceID); err != nil {
		t.Fatalf("deregister: %v %s", err, errOut)
	}
	_, err = ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
	wantError(t, err, 401, "oauth_invalid_client_credentials", "revoked")
}

// TestScenarioAirGapped: an air-gapped workspace's admin copies its client
// key to the cloud's admin, who registers it with licensectl and hands back
// the cloud blob; the workspace applies it with no network: the license
// verifies with the blob's public key alone and is bound to the site.
func TestScenarioAirGapped(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	cus := createCustomer(t, sys, "Air Gap Gov")
	clientKey := base64.StdEncoding.EncodeToString([]byte(`{"uniqueId":"gap-1","address":"https://chat.gap.test/","siteName":"Gap Chat","version":"7.2.1","seats":200}`))

	out, errOut, err := sys.Licensectl(ctx, clientKey, "register-offline", "-customer", cus, "-o", "json")
	if err != nil {
		t.Fatalf("register-offline: %v\n%s", err, errOut)
	}
	var resp struct {
		Workspace struct {
			ID string `json:"id"`
		} `json:"workspace"`
		CloudBlob string `json:"cloudBlob"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	raw, err := base64.StdEncoding.DecodeString(resp.CloudBlob)
	if err != nil {
		t.Fatal(err)
	}
	var blob struct {
		WorkspaceID string `json:"workspaceId"`
		PublicKey   string `json:"publicKey"`
		LicenseData struct {
			License string `json:"license"`
		} `json:"licenseData"`
	}
	if err := json.Unmarshal(raw, &blob); err != nil || blob.WorkspaceID != resp.Workspace.ID {
		t.Fatalf("blob %s: %v", raw, err)
	}
	// What the workspace does offline: verify with the public key alone,
	// check the binding to its own address.
	pub, err := keys.ParsePublicKey(blob.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := license.VerifyWithKey(blob.LicenseData.License, pub)
	if err != nil {
		t.Fatalf("offline license: %v", err)
	}
	found := false
	for _, u := range doc.Validation.ServerURLs {
		found = found || strings.EqualFold(u.Value, "chat.gap.test")
	}
	if !found {
		t.Fatalf("license serverUrls %v do not bind chat.gap.test", doc.Validation.ServerURLs)
	}
	if !doc.Information.Offline {
		t.Errorf("information.offline is false, want an offline license")
	}
	// And licensectl verifies it the same way, offline.
	lic := t.TempDir() + "/license.txt"
	writeFile(t, lic, blob.LicenseData.License)
	pemFile := t.TempDir() + "/public.pem"
	writeFile(t, pemFile, blob.PublicKey)
	if out, errOut, err := sys.Licensectl(ctx, "", "license", "verify", "-public-key", pemFile, "-address", "https://chat.gap.test", lic); err != nil {
		t.Fatalf("license verify: %v\n%s%s", err, out, errOut)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
