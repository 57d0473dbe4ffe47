package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/artifact"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// keysEnv makes rotation fast enough for a test: a next key may be promoted
// after 3 s, and the gateway refreshes its keyset every second (below the
// lead, as a deployment must keep it).
var keysEnv = []string{"KEYSET_PUBLISH_LEAD=3s", "JWKS_CACHE=1s", "KEYSET_REFRESH=1s", "SUPPORTED_VERSIONS_CACHE=0"}

func fetchJWKS(t *testing.T, sys *system) []keys.PublicKey {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, sys.GatewayURL+"/.well-known/jwks.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("GET /.well-known/jwks.json: %s %s %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	set, err := keys.ParseJWKS(body)
	if err != nil {
		t.Fatalf("JWKS: %v: %s", err, body)
	}
	return set
}

func kidsOf(set []keys.PublicKey) map[string]keys.State {
	out := map[string]keys.State{}
	for _, k := range set {
		out[k.ID] = k.State
	}
	return out
}

func licenseKID(t *testing.T, lic string) string {
	t.Helper()
	h, _, err := jws.ParseUnverified(strings.TrimPrefix(lic, "RCV3_"))
	if err != nil {
		t.Fatalf("license header: %v", err)
	}
	return h.Kid
}

// TestKeyRotationUnderLiveTraffic rotates the license key with licensectl
// while workspaces sync and verify continuously, licenses are issued and the
// supported-versions document is fetched: every artifact verifies, both with
// the keyset verifiers cached before the rotation (the new key was published
// before it signed) and with the publicKey the sync answer carries. Then the
// current licenses are re-signed with the new key, the old key is revoked,
// and what it signed is rejected.
func TestKeyRotationUnderLiveTraffic(t *testing.T) {
	sys := startSystem(t, false, keysEnv...)
	ctx := t.Context()
	admin, err := sys.Client(sys.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	// The keyset as verifiers cache it before the rotation: an active key
	// and a next key, published.
	cached := fetchJWKS(t, sys)
	before := kidsOf(cached)
	var oldKID, nextKID string
	for kid, st := range before {
		switch st {
		case keys.StateActive:
			oldKID = kid
		case keys.StateNext:
			nextKID = kid
		}
	}
	if len(before) != 2 || oldKID == "" || nextKID == "" {
		t.Fatalf("JWKS before rotation = %v, want one active and one next key", before)
	}

	const n = 4
	customer := createCustomer(t, sys, "Rotation")
	token := createToken(t, sys, customer, "pro", n)
	type member struct {
		id, access string
	}
	var members []member
	for i := range n {
		ws := workspace.New(sys.GatewayURL)
		creds, err := ws.Register(ctx, token, fmt.Sprintf("admin%d@rot.test", i), fmt.Sprintf("Rot %d", i))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, member{creds.WorkspaceID, tok.AccessToken})
	}

	var (
		mu       sync.Mutex
		failures []string
		seen     = map[string]int{} // licenses and documents verified, by kid
		oldLic   string             // a license signed with the old key
		verified atomic.Int64
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	check := func(what string, raw []byte, pubPEM string) {
		r, err := artifact.Check(raw, cached, artifact.Options{})
		if err != nil || !r.OK {
			fail("%s does not verify with the cached keyset: %v %v", what, err, r.Problems)
			return
		}
		if pubPEM != "" {
			pub, err := keys.ParsePublicKey(pubPEM)
			if err != nil {
				fail("%s: publicKey: %v", what, err)
				return
			}
			if r, _ := artifact.Check(raw, []keys.PublicKey{{Key: pub}}, artifact.Options{}); !r.OK {
				fail("%s does not verify with the publicKey beside it: %v", what, r.Problems)
				return
			}
		}
		verified.Add(1)
		mu.Lock()
		seen[r.KeyID]++
		if r.KeyID == oldKID && r.Kind == artifact.KindLicense {
			oldLic = string(raw)
		}
		mu.Unlock()
	}

	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, m := range members {
		// Each workspace syncs and verifies what it gets, continuously.
		wg.Go(func() {
			ws := workspace.New(sys.GatewayURL)
			for trafficCtx.Err() == nil {
				resp, err := ws.Sync(trafficCtx, m.id, m.access, workspace.RegistrationData{
					UniqueID: "u-" + m.id, Address: fmt.Sprintf("chat%d.rot.test", i), Version: "7.2.1", Seats: 3})
				if trafficCtx.Err() != nil {
					return
				}
				if err != nil {
					fail("sync %s: %v", m.id, err)
					continue
				}
				check("license of "+m.id, []byte(resp.License), resp.PublicKey)
			}
		})
	}
	// Billing changes seats, so licenses are signed throughout.
	wg.Go(func() {
		for seats := int64(10); trafficCtx.Err() == nil; seats++ {
			m := members[seats%n]
			resp, err := admin.Subscriptions.GrantSubscription(trafficCtx, &signerv1.GrantSubscriptionRequest{
				IdempotencyKey: fmt.Sprintf("rot-%d", seats), WorkspaceId: m.id, PlanId: "pro", Seats: &seats})
			if trafficCtx.Err() != nil {
				return
			}
			if err != nil {
				fail("grant: %v", err)
				continue
			}
			check("granted license", []byte(resp.GetLicense().GetToken()), "")
		}
	})
	// A workspace fetches the signed supported-versions document.
	wg.Go(func() {
		for trafficCtx.Err() == nil {
			req, _ := http.NewRequestWithContext(trafficCtx, http.MethodGet, sys.GatewayURL+"/v2/server/supportedVersions", nil)
			resp, err := http.DefaultClient.Do(req)
			if trafficCtx.Err() != nil {
				return
			}
			if err != nil {
				fail("supported versions: %v", err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check("supported versions", body, "")
		}
	})

	// Traffic runs on the old key; then the rotation, once the next key has
	// been published for the lead.
	eventually(t, 30*time.Second, "traffic verified with the old key", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return seen[oldKID] >= 20 && oldLic != "", nil
	})
	var out, errOut string
	eventually(t, 20*time.Second, "licensectl keys rotate", func() (bool, error) {
		out, errOut, err = sys.Licensectl(ctx, "", "keys", "rotate", "-o", "json")
		if err != nil && strings.Contains(errOut, "NEXT_KEY_TOO_NEW") {
			return false, fmt.Errorf("%s", errOut)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, errOut)
	}
	var rotated struct {
		Active, Retired, Next struct{ Kid string }
	}
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated.Active.Kid != nextKID || rotated.Retired.Kid != oldKID || rotated.Next.Kid == "" {
		t.Fatalf("keys rotate = %s (%v); want %s active and %s retired", out, err, nextKID, oldKID)
	}
	// New artifacts carry the new key at once, and keep verifying.
	eventually(t, 30*time.Second, "traffic verified with the new key", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return seen[nextKID] >= 20, nil
	})
	stopTraffic()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures across the rotation (of %d verified), first: %s", len(failures), verified.Load(), failures[0])
	}
	t.Logf("verified %d artifacts across the rotation: %v", verified.Load(), seen)

	// The gateway publishes the retired key (still verifying), the new
	// active key and the new next key.
	eventually(t, 10*time.Second, "the rotated JWKS", func() (bool, error) {
		got := kidsOf(fetchJWKS(t, sys))
		return got[oldKID] == keys.StateRetired && got[nextKID] == keys.StateActive && got[rotated.Next.Kid] == keys.StateNext, fmt.Errorf("%v", got)
	})

	// Re-sign every current license with the new key; the job reports progress.
	out, errOut, err = sys.Licensectl(ctx, "", "keys", "resign", "-wait", "-o", "json")
	if err != nil {
		t.Fatalf("keys resign: %v\n%s", err, errOut)
	}
	var job struct {
		State    string
		Visited  string
		Resigned string
	}
	if err := json.Unmarshal([]byte(out), &job); err != nil || job.State != "done" || job.Visited != fmt.Sprint(n) {
		t.Fatalf("keys resign = %s (%v); want done with %d workspaces visited", out, err, n)
	}
	for _, m := range members {
		ls, err := admin.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: m.id})
		if err != nil {
			t.Fatal(err)
		}
		if kid := licenseKID(t, ls.GetLicenses()[0].GetToken()); kid != nextKID {
			t.Errorf("%s: current license signed by %s after the re-sign, want %s", m.id, kid, nextKID)
		}
	}

	// Revoke the old key: what it signed is rejected by licensectl verify,
	// with the gateway's JWKS (the key is gone) and with an exported keyset
	// (the key is marked revoked).
	dir := t.TempDir()
	oldFile, newFile := filepath.Join(dir, "old.txt"), filepath.Join(dir, "new.txt")
	_ = os.WriteFile(oldFile, []byte(oldLic), 0o600)
	ls, _ := admin.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: members[0].id})
	_ = os.WriteFile(newFile, []byte(ls.GetLicenses()[0].GetToken()), 0o600)
	jwksURL := sys.GatewayURL + "/.well-known/jwks.json"
	if out, errOut, err := sys.Licensectl(ctx, "", "verify", "-keys", jwksURL, oldFile); err != nil || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("before revocation, the old key's license: %v\n%s%s", err, out, errOut)
	}
	if _, errOut, err := sys.Licensectl(ctx, "", "keys", "revoke", "-reason", "e2e", "--", oldKID); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, errOut)
	}
	eventually(t, 10*time.Second, "the old key gone from the JWKS", func() (bool, error) {
		_, ok := kidsOf(fetchJWKS(t, sys))[oldKID]
		return !ok, nil
	})
	out, _, err = sys.Licensectl(ctx, "", "verify", "-keys", jwksURL, oldFile)
	if err == nil || !strings.Contains(out, "does not hold") {
		t.Errorf("revoked key's license with the gateway JWKS: err %v, output:\n%s", err, out)
	}
	exported := filepath.Join(dir, "keyset.json")
	if _, errOut, err := sys.Licensectl(ctx, "", "keys", "export", "-out", exported); err != nil {
		t.Fatalf("keys export: %v\n%s", err, errOut)
	}
	out, _, err = sys.Licensectl(ctx, "", "verify", "-keys", exported, oldFile)
	if err == nil || !strings.Contains(out, "revoked") {
		t.Errorf("revoked key's license with the exported keyset: err %v, output:\n%s", err, out)
	}
	if out, errOut, err := sys.Licensectl(ctx, "", "verify", "-keys", exported, newFile); err != nil || !strings.Contains(out, "VERIFIED") {
		t.Errorf("re-signed license: %v\n%s%s", err, out, errOut)
	}

	// The access-token keyset rotates the same way: new tokens carry the new
	// key, and a token signed before the rotation keeps working.
	oldToken := members[0].access
	eventually(t, 20*time.Second, "licensectl keys rotate -keyset access-token", func() (bool, error) {
		out, errOut, err = sys.Licensectl(ctx, "", "keys", "rotate", "-keyset", "access-token", "-o", "json")
		if err != nil && strings.Contains(errOut, "NEXT_KEY_TOO_NEW") {
			return false, fmt.Errorf("%s", errOut)
		}
		return true, nil
	})
	if err != nil || json.Unmarshal([]byte(out), &rotated) != nil || rotated.Active.Kid == "" {
		t.Fatalf("keys rotate -keyset access-token: %v\n%s%s", err, out, errOut)
	}
	ws := workspace.New(sys.GatewayURL)
	creds, err := ws.Register(ctx, createToken(t, sys, customer, "", 1), "late@rot.test", "Late")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, err := jws.ParseUnverified(tok.AccessToken); err != nil || h.Kid != rotated.Active.Kid {
		t.Fatalf("access token after the rotation signed by %q (%v), want %s", h.Kid, err, rotated.Active.Kid)
	}
	for what, m := range map[string]member{"new": {creds.WorkspaceID, tok.AccessToken}, "pre-rotation": {members[0].id, oldToken}} {
		if _, err := ws.Sync(ctx, m.id, m.access, workspace.RegistrationData{UniqueID: "u-" + m.id, Address: "late.rot.test", Version: "7.2.1"}); err != nil {
			t.Errorf("sync with the %s access token: %v", what, err)
		}
	}
}
