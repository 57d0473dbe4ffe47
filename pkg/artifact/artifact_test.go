package artifact

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The golden vectors reuse the license library's fixed throwaway key and
// golden license (created 2025-01-15T10:00:00Z): nothing may trust that key.
var (
	licenseDir    = filepath.Join("..", "license", "testdata")
	keyActivated  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	keyRetired    = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	keyVerifyEnds = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	checkAt       = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
)

func testKey(t *testing.T) keys.Key {
	t.Helper()
	f, err := keys.LoadOrCreateFile(filepath.Join(licenseDir, "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func goldenLicense(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(licenseDir, "golden_license.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func retiredKey(t *testing.T) keys.PublicKey {
	k := testKey(t)
	return keys.PublicKey{ID: k.ID, Algorithm: keys.AlgRS256, Key: k.Public(), State: keys.StateRetired,
		NotBefore: keyActivated, RetiredAt: keyRetired, NotAfter: keyVerifyEnds}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if w := strings.TrimSuffix(string(want), "\n"); got != w {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, w)
	}
}

// TestGoldenKeyset pins the published form of a key with its state and
// window, and what a check of the golden license against it says.
func TestGoldenKeyset(t *testing.T) {
	jwks, err := keys.JWKS([]keys.PublicKey{retiredKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "golden_jwks.json", string(jwks))

	set, err := keys.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(goldenLicense(t), set, Options{At: checkAt})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Kind != KindLicense || r.KeyState != "retired" {
		t.Fatalf("golden license: %+v", r)
	}
	checkGolden(t, "golden_report.txt", strings.Join(r.Findings, "\n"))
}

// signedVersions is a supported-versions document signed with the test key
// at a fixed iat; RSA PKCS#1 v1.5 is deterministic, so its bytes are fixed.
func signedVersions(t *testing.T, iat time.Time) []byte {
	t.Helper()
	doc := map[string]any{"timestamp": "2025-01-10T00:00:00.000Z", "versions": []any{map[string]any{"version": "7.0.0", "expiration": "2025-06-09T00:00:00.000Z"}}}
	claims := map[string]any{"iat": iat.Unix()}
	for k, v := range doc {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t)
	signed, err := jws.Sign(k.Signer, k.ID, payload)
	if err != nil {
		t.Fatal(err)
	}
	doc["signed"] = signed
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSupportedVersions(t *testing.T) {
	set := []keys.PublicKey{retiredKey(t)}
	doc := signedVersions(t, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC))
	checkGolden(t, "golden_supported_versions.json", string(doc))

	r, err := Check(doc, set, Options{At: checkAt})
	if err != nil || !r.OK || r.Kind != KindSupportedVersions || r.SignedAt.IsZero() {
		t.Fatalf("signed document: %+v, %v", r, err)
	}
	// The bare JWT is checked too.
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	if r, err := Check([]byte(m["signed"].(string)), set, Options{At: checkAt}); err != nil || !r.OK {
		t.Fatalf("bare JWT: %+v, %v", r, err)
	}
	// A member changed after signing is caught.
	tampered := strings.Replace(string(doc), `"version":"7.0.0"`, `"version":"9.0.0"`, 1)
	if r, _ := Check([]byte(tampered), set, Options{At: checkAt}); r.OK || !mentions(r, "differs from what was signed") {
		t.Errorf("tampered document: %+v", r)
	}
	// Signed after the key retired: outside its signing window.
	late := signedVersions(t, keyRetired.Add(24*time.Hour))
	if r, _ := Check(late, set, Options{At: keyRetired.Add(48 * time.Hour)}); r.OK || !mentions(r, "signing window") {
		t.Errorf("signed after retirement: %+v", r)
	}
}

func mentions(r Report, s string) bool {
	for _, p := range r.Problems {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

type fakeProof struct{ err error }

func (f fakeProof) VerifyInclusion(_, proof []byte) error { return f.err }

func TestLicenseProblems(t *testing.T) {
	lic := goldenLicense(t)
	k := retiredKey(t)

	revoked := k
	revoked.State = keys.StateRevoked
	if r, _ := Check(lic, []keys.PublicKey{revoked}, Options{At: checkAt}); r.OK || !mentions(r, "revoked") {
		t.Errorf("revoked key: %+v", r)
	}
	if r, _ := Check(lic, []keys.PublicKey{k}, Options{At: keyVerifyEnds.Add(time.Hour)}); r.OK || !mentions(r, "verification window has ended") {
		t.Errorf("after the key's verification ended: %+v", r)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stranger := keys.PublicKey{ID: keys.KeyID(&other.PublicKey), Key: &other.PublicKey}
	if r, _ := Check(lic, []keys.PublicKey{stranger}, Options{At: checkAt}); r.OK || !mentions(r, "does not hold") {
		t.Errorf("keyset without the signing key: %+v", r)
	}
	// A bare public key (no kid) is what a workspace holds.
	if r, _ := Check(lic, []keys.PublicKey{{Key: k.Key}}, Options{At: checkAt}); !r.OK {
		t.Errorf("bare public key: %+v", r)
	}
	if r, _ := Check(lic, []keys.PublicKey{{Key: &other.PublicKey}}, Options{At: checkAt}); r.OK || !mentions(r, "does NOT verify") {
		t.Errorf("wrong bare key: %+v", r)
	}
	if r, _ := Check(lic, []keys.PublicKey{k}, Options{At: checkAt, Address: "elsewhere.example.org"}); r.OK || !mentions(r, "not bound") {
		t.Errorf("other address: %+v", r)
	}
	// The log-inclusion seam: reported as not checked without a verifier,
	// and its verdict counts when there is one.
	if r, _ := Check(lic, []keys.PublicKey{k}, Options{At: checkAt, Proof: []byte("p")}); !r.OK || !strings.Contains(strings.Join(r.Findings, "\n"), "no proof checker") {
		t.Errorf("proof without a verifier: %+v", r)
	}
	if r, _ := Check(lic, []keys.PublicKey{k}, Options{At: checkAt, Proof: []byte("p"), Inclusion: fakeProof{errors.New("not in the log")}}); r.OK || !mentions(r, "not in the log") {
		t.Errorf("failing proof: %+v", r)
	}
	if _, err := Check([]byte("hello"), []keys.PublicKey{k}, Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("not an artifact: err = %v", err)
	}
}
