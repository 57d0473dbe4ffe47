package e2e

import (
	"crypto/rsa"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
)

// supportedVersionsDoc fetches GET BASE/v2/server/supportedVersions as a
// stock workspace does (bearer optional) and checks it against PROTOCOL.md
// section 7: the members and their types, and "signed" an RS256 JWT with a
// kid that verifies with the license public key and whose payload is the
// document without "signed" (and an "iat", no "exp"). It returns the
// document and each version's expiration.
func supportedVersionsDoc(t *testing.T, sys *system, pub *rsa.PublicKey, bearer string) (map[string]any, map[string]string) {
	t.Helper()
	body := call(t, sys, "GET", "/v2/server/supportedVersions", bearer, "", "").ok(t, map[string]string{
		"timestamp": "string", "versions": "array", "signed": "string",
		"messages?": "array", "exceptions?": "object", "i18n?": "object",
	})
	wantISO(t, "timestamp", body["timestamp"])
	expiry := map[string]string{}
	for i, v := range arr(t, "versions", body["versions"]) {
		what := fmt.Sprintf("versions[%d]", i)
		entry := obj(t, what, v)
		wantShape(t, what, entry, map[string]string{"version": "string", "expiration": "string", "messages?": "array"})
		wantISO(t, what+".expiration", entry["expiration"])
		expiry[entry["version"].(string)] = entry["expiration"].(string)
	}

	signed := body["signed"].(string)
	parts := strings.Split(signed, ".")
	if len(parts) != 3 {
		t.Fatalf("signed is not a compact JWT: %q", signed)
	}
	var header map[string]any
	decodeSegment(t, "signed header", parts[0], &header)
	kid, _ := header["kid"].(string)
	if header["alg"] != "RS256" || kid == "" {
		t.Errorf("signed header %v, want alg RS256 and a kid", header)
	}
	if _, _, err := jws.Verify(signed, func(string) (*rsa.PublicKey, error) { return pub, nil }); err != nil {
		t.Fatalf("signed does not verify with the license public key: %v", err)
	}
	if kid != keys.KeyID(pub) {
		t.Errorf("kid %q, want the license key's %q", kid, keys.KeyID(pub))
	}
	var payload map[string]any
	decodeSegment(t, "signed payload", parts[1], &payload)
	if jsonType(payload["iat"]) != "integer" {
		t.Errorf("payload iat = %v, want seconds", payload["iat"])
	}
	if _, ok := payload["exp"]; ok {
		t.Errorf("payload has exp: %v", payload["exp"])
	}
	delete(payload, "iat")
	unsigned := map[string]any{}
	for k, v := range body {
		if k != "signed" {
			unsigned[k] = v
		}
	}
	if !reflect.DeepEqual(payload, unsigned) {
		t.Errorf("signed payload %v\nwant the document without signed: %v", payload, unsigned)
	}
	return body, expiry
}

// TestConformanceSupportedVersions checks PROTOCOL.md section 7 through the
// gateway, and that a release recorded with licensectl reaches the document.
func TestConformanceSupportedVersions(t *testing.T) {
	sys := startSystem(t, false, "SUPPORTED_VERSIONS_CACHE=0")
	ctx := t.Context()

	v2, _, err := sys.Licensectl(ctx, "", "keys", "public", "-v2")
	if err != nil {
		t.Fatalf("licensectl keys public -v2: %v", err)
	}
	pub, err := keys.ParsePublicKey(v2)
	if err != nil {
		t.Fatalf("the printed public key: %v", err)
	}

	before, expiry := supportedVersionsDoc(t, sys, pub, "")
	if expiry["7.2.0"] != "2026-12-09T00:00:00.000Z" {
		t.Errorf("seeded 7.2.0 expires %q, want six months after 2026-06-09", expiry["7.2.0"])
	}
	// A bearer is optional and, when sent, not checked.
	supportedVersionsDoc(t, sys, pub, "not-an-access-token")

	out, stderr, err := sys.Licensectl(ctx, "", "releases", "record", "-version", "7.4.0", "-released", "2026-11-10", "-months", "6")
	if err != nil || !strings.Contains(out, "7.4.0") {
		t.Fatalf("licensectl releases record: %v\n%s%s", err, out, stderr)
	}
	after, expiry := supportedVersionsDoc(t, sys, pub, "")
	if expiry["7.4.0"] != "2027-05-10T00:00:00.000Z" {
		t.Errorf("7.4.0 expires %q, want 2027-05-10T00:00:00.000Z (versions %v)", expiry["7.4.0"], expiry)
	}
	if wantISO(t, "timestamp", after["timestamp"]).Before(wantISO(t, "timestamp", before["timestamp"])) {
		t.Errorf("timestamp went back from %v to %v", before["timestamp"], after["timestamp"])
	}
	if after["timestamp"] == before["timestamp"] {
		t.Errorf("timestamp %v did not move with the new release", after["timestamp"])
	}

	list, _, err := sys.Licensectl(ctx, "", "releases", "list")
	if err != nil || !strings.Contains(list, "7.4.0") || !strings.Contains(list, "6.12.0") {
		t.Errorf("licensectl releases list: %v\n%s", err, list)
	}
	_, stderr, err = sys.Licensectl(ctx, "", "releases", "record", "-version", "7.4", "-released", "2026-11-10")
	if err == nil || !strings.Contains(stderr, "version") {
		t.Errorf("licensectl releases record -version 7.4: %v, stderr %q, want an error naming version", err, stderr)
	}
}
