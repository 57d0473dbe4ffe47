package e2e

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestSupportedVersionsEnforcement drives PROTOCOL.md 4 and 7's refusal
// through the gateway as a stock workspace meets it: the version is the
// "version" member of the registration data it sends on sync and in the
// setup wizard. Releases are recorded relative to today, so the test does
// not depend on the date it runs.
func TestSupportedVersionsEnforcement(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	lctl := func(args ...string) string {
		t.Helper()
		out, stderr, err := sys.Licensectl(ctx, "", args...)
		if err != nil {
			t.Fatalf("licensectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	today := time.Now().UTC()
	// 3.1 shipped two years ago (long unsupported); 3.9 last month (supported
	// for five more months).
	lctl("releases", "record", "-version", "3.1.0", "-released", today.AddDate(-2, 0, 0).Format("2006-01-02"))
	lctl("releases", "record", "-version", "3.9.0", "-released", today.AddDate(0, -1, 0).Format("2006-01-02"))

	acme := createCustomer(t, sys, "Acme")
	other := createCustomer(t, sys, "Other")
	acmeWS := registerWorkspace(t, sys, ws, createToken(t, sys, acme, "", 1), "acme", "https://acme.versions.test")
	licWS := registerWorkspace(t, sys, ws, createToken(t, sys, other, "", 1), "lic", "https://lic.versions.test")
	plainWS := registerWorkspace(t, sys, ws, createToken(t, sys, other, "", 1), "plain", "https://plain.versions.test")

	sync := func(r registered, version string) exchange {
		t.Helper()
		r.data.Version = version
		return call(t, sys, http.MethodPost, r.wsPath("/sync"), r.full, jsonCT, r.body(t))
	}
	// Not enforced yet: the old version syncs (and the first syncs give
	// every workspace its license).
	for _, r := range []registered{acmeWS, licWS, plainWS} {
		sync(r, "3.1.2").ok(t, syncShape)
	}

	lctl("versions", "policy", "-enforce-from", today.AddDate(0, 0, -1).Format("2006-01-02"))
	// Every sync service replica reloads its copy on the change event.
	eventually(t, 10*time.Second, "an unsupported version refused on sync", func() (bool, error) {
		return sync(plainWS, "3.1.2").status == http.StatusForbidden, nil
	})
	sync(plainWS, "3.1.2").fails(t, http.StatusForbidden, "unsupported_version", "3.1.2")
	sync(plainWS, "3.9.4").ok(t, syncShape)
	// A line newer than every recorded release (the seeded ones are 6.x and
	// 7.x) is not refused; an older line never recorded is.
	sync(plainWS, "99.0.0").ok(t, syncShape)
	sync(plainWS, "3.5.0").fails(t, http.StatusForbidden, "unsupported_version", "3.5.0")
	// The legacy sync refuses the same way.
	plainWS.data.Version = "3.1.2"
	call(t, sys, http.MethodPost, plainWS.wsPath("/client"), plainWS.full, jsonCT, plainWS.body(t)).
		fails(t, http.StatusForbidden, "unsupported_version", "end of its support")

	// A customer's exception covers its workspaces, and only theirs.
	until := today.AddDate(0, 0, 30).Format("2006-01-02")
	lctl("exceptions", "add", "-customer", acme, "-version", "3.1", "-until", until, "-reason", "migration planned", "-idempotency-key", "acme-3.1")
	eventually(t, 10*time.Second, "the customer's exception applied", func() (bool, error) {
		return sync(acmeWS, "3.1.2").status == http.StatusOK, nil
	})
	sync(licWS, "3.1.2").fails(t, http.StatusForbidden, "unsupported_version", "3.1.2")

	// The document a workspace fetches with its access token carries the
	// exceptions in force for it (PROTOCOL.md 7), signed like the rest; the
	// shared document and another customer's workspace's carry none.
	type exceptionsDoc struct {
		Exceptions *struct {
			Domain   string `json:"domain"`
			UniqueID string `json:"uniqueId"`
			Versions []struct {
				Version    string `json:"version"`
				Expiration string `json:"expiration"`
			} `json:"versions"`
		} `json:"exceptions"`
		Signed string `json:"signed"`
	}
	fetchDoc := func(bearer string) (outer, signed exceptionsDoc) {
		t.Helper()
		ex := call(t, sys, http.MethodGet, "/v2/server/supportedVersions", bearer, "", "")
		if ex.status != http.StatusOK {
			t.Fatalf("supportedVersions: %d %s", ex.status, ex.raw)
		}
		if err := json.Unmarshal([]byte(ex.raw), &outer); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(outer.Signed, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &signed); err != nil {
			t.Fatal(err)
		}
		return outer, signed
	}
	acmeDoc, claims := fetchDoc(acmeWS.full)
	wantExp := until + "T23:59:59.999Z"
	if e := acmeDoc.Exceptions; e == nil || e.UniqueID != acmeWS.data.UniqueID || e.Domain != "acme.versions.test" ||
		len(e.Versions) != 1 || e.Versions[0].Version != "3.1.0" || e.Versions[0].Expiration != wantExp {
		t.Errorf("the customer's workspace's document: exceptions %+v, want 3.1.0 until %s for uniqueId %q at acme.versions.test", e, wantExp, acmeWS.data.UniqueID)
	}
	if claims.Exceptions == nil || len(claims.Exceptions.Versions) != 1 {
		t.Errorf("the signed payload lacks the exceptions: %+v", claims.Exceptions)
	}
	if doc, _ := fetchDoc(plainWS.full); doc.Exceptions != nil {
		t.Errorf("another customer's workspace's document carries exceptions: %+v", doc.Exceptions)
	}
	if doc, _ := fetchDoc(""); doc.Exceptions != nil {
		t.Errorf("the shared document carries exceptions: %+v", doc.Exceptions)
	}

	// A license's exception covers the workspace it was issued to.
	history := lctl("licenses", "list", licWS.creds.WorkspaceID)
	licenseID := firstField(t, history, "lic_")
	added := lctl("exceptions", "add", "-license", licenseID, "-version", "3.1.2", "-until", until, "-idempotency-key", "lic-3.1")
	exceptionID := firstField(t, added, "vex_")
	eventually(t, 10*time.Second, "the license's exception applied", func() (bool, error) {
		return sync(licWS, "3.1.2").status == http.StatusOK, nil
	})
	sync(plainWS, "3.1.2").fails(t, http.StatusForbidden, "unsupported_version", "3.1.2")

	// Idempotency: the same key and request answer the same exception; the
	// same key with another request is refused, naming the key.
	if again := lctl("exceptions", "add", "-license", licenseID, "-version", "3.1.2", "-until", until, "-idempotency-key", "lic-3.1"); firstField(t, again, "vex_") != exceptionID {
		t.Errorf("a repeated add made another exception:\n%s\nfirst:\n%s", again, added)
	}
	_, stderr, err := sys.Licensectl(ctx, "", "exceptions", "add", "-license", licenseID, "-version", "3.2", "-until", until, "-idempotency-key", "lic-3.1")
	if err == nil || !strings.Contains(stderr, "lic-3.1") {
		t.Errorf("the key reused with another request: %v, stderr %q", err, stderr)
	}
	// Bad input is refused naming the field, and nothing is added.
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"-customer", acme, "-version", "three", "-until", until}, "version"},
		{[]string{"-customer", acme, "-license", licenseID, "-version", "3.1", "-until", until}, "license_id"},
		{[]string{"-version", "3.1", "-until", until}, "customer_id"},
		{[]string{"-customer", acme, "-version", "3.1", "-until", "2001-01-01"}, "until"},
		{[]string{"-license", "lic_unknown", "-version", "3.1", "-until", until}, "lic_unknown"},
	} {
		_, stderr, err := sys.Licensectl(ctx, "", append([]string{"exceptions", "add"}, tc.args...)...)
		if err == nil || !strings.Contains(stderr, tc.field) {
			t.Errorf("exceptions add %v: %v, stderr %q, want an error naming %s", tc.args, err, stderr, tc.field)
		}
	}
	if list := lctl("exceptions", "list"); strings.Count(list, "vex_") != 2 {
		t.Errorf("exceptions list after refused adds:\n%s", list)
	}

	// Removing the license's exception refuses the workspace again.
	lctl("exceptions", "remove", exceptionID)
	eventually(t, 10*time.Second, "the removed exception no longer applied", func() (bool, error) {
		return sync(licWS, "3.1.2").status == http.StatusForbidden, nil
	})

	// Registration in the setup wizard refuses an unsupported version too.
	const intent = "/api/v2/register/workspace/intent?resent=false"
	old := strings.Replace(wizardData("oldwiz", "a@oldwiz.test"), `"version":"7.2.1"`, `"version":"3.1.0"`, 1)
	call(t, sys, http.MethodPost, intent, "", jsonCT, old).fails(t, http.StatusForbidden, "unsupported_version", "3.1.0")
	fresh := strings.Replace(wizardData("newwiz", "a@newwiz.test"), `"version":"7.2.1"`, `"version":"3.9.0"`, 1)
	if x := call(t, sys, http.MethodPost, intent, "", jsonCT, fresh); x.status != http.StatusOK {
		t.Errorf("a supported version's intent: %d %s", x.status, x.raw)
	}

	// An air-gapped registration of an unsupported version is refused; the
	// customer's exception lets Acme register one.
	offlineKey := func(unique string) string {
		return base64.StdEncoding.EncodeToString([]byte(`{"uniqueId":"` + unique + `","address":"https://` + unique + `.versions.test","siteName":"Bunker","version":"3.1.0"}`))
	}
	if out, stderr, err := sys.Licensectl(ctx, offlineKey("bunker-other"), "register-offline", "-customer", other, "-"); err == nil || !strings.Contains(stderr, "UNSUPPORTED_VERSION") || !strings.Contains(stderr, "3.1.0") {
		t.Errorf("offline registration of 3.1.0: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := sys.Licensectl(ctx, offlineKey("bunker-acme"), "register-offline", "-customer", acme, "-"); err != nil {
		t.Errorf("offline registration of 3.1.0 under Acme's exception: %v\n%s%s", err, out, stderr)
	}

	// Every license embeds the signed document (PROTOCOL.md 7), which
	// verifies with the license key and lists the releases recorded above.
	var synced struct {
		License string `json:"license"`
	}
	x := sync(plainWS, "3.9.4")
	if err := json.Unmarshal([]byte(x.raw), &synced); err != nil {
		t.Fatal(err)
	}
	v2, _, err := sys.Licensectl(ctx, "", "keys", "public", "-v2")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.ParsePublicKey(v2)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := license.VerifyWithKey(synced.License, pub)
	if err != nil {
		t.Fatalf("the synced license: %v", err)
	}
	var embedded struct {
		Versions []struct{ Version string } `json:"versions"`
		Signed   string                     `json:"signed"`
	}
	if err := json.Unmarshal(doc.SupportedVersions, &embedded); err != nil {
		t.Fatalf("supportedVersions %s: %v", doc.SupportedVersions, err)
	}
	if _, _, err := jws.Verify(embedded.Signed, func(string) (*rsa.PublicKey, error) { return pub, nil }); err != nil {
		t.Errorf("the embedded document's signed does not verify: %v", err)
	}
	if !strings.Contains(string(doc.SupportedVersions), `"3.9.0"`) {
		t.Errorf("the embedded document lacks 3.9.0: %s", doc.SupportedVersions)
	}

	// Back to never enforcing: the old version syncs again.
	lctl("versions", "policy", "-never-enforce")
	eventually(t, 10*time.Second, "enforcement lifted", func() (bool, error) {
		return sync(plainWS, "3.1.2").status == http.StatusOK, nil
	})
}

// firstField returns the first whitespace-separated field of out that
// starts with prefix.
func firstField(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, prefix) {
			return f
		}
	}
	t.Fatalf("no %s... in:\n%s", prefix, out)
	return ""
}
