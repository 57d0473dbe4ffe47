package license

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testKey is the fixed key of the golden vectors. It is a throwaway test key:
// nothing may ever trust it.
var testKey = sync.OnceValues(func() (keys.Key, error) {
	f, err := keys.LoadOrCreateFile(filepath.Join("testdata", "test_key.pem"), false)
	if err != nil {
		return keys.Key{}, err
	}
	return f.Active(context.Background())
})

func mustKey(t testing.TB) keys.Key {
	t.Helper()
	k, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// created is the fixed clock of the golden document.
var created = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// sampleDocument returns a fresh, valid document exercising most fields.
func sampleDocument() *Document {
	return &Document{
		Version: Version,
		Information: Information{
			ID:               "lic_golden_0001",
			AutoRenew:        true,
			VisualExpiration: FormatTime(created.AddDate(1, 0, 0)),
			Cancellable:      new(true),
			CreatedAt:        FormatTime(created),
			GrantedBy:        GrantedBy{Method: GrantedBySelfService, Seller: "cloud"},
			GrantedTo:        &GrantedTo{Name: "Ada Lovelace", Company: "Example Corp", Email: "ada@example.com"},
			Tags:             []Tag{{Name: "Pro", Color: "#5154ec"}},
		},
		Validation: Validation{
			ServerURLs:       []ServerURL{{Value: "chat.example.com", Type: URLTypeURL}},
			CloudWorkspaceID: "ws_123",
			ValidPeriods: []Period{{
				ValidFrom:       FormatTime(created),
				ValidUntil:      FormatTime(created.AddDate(1, 0, 14)),
				InvalidBehavior: BehaviorInvalidateLicense,
			}},
			LegalTextAgreement: &LegalTextAgreement{Type: LegalTextAccepted, AcceptedVia: "cloud"},
			StatisticsReport:   &StatisticsReport{Required: true},
		},
		GrantedModules: []Module{{Module: "auditing"}, {Module: "hide-watermark"}, {Module: "acme.tickets", External: true}},
		Limits: Limits{
			ActiveUsers: []Limit{
				{Max: 30, Behavior: BehaviorInvalidateLicense},
				{Max: 25, Behavior: BehaviorPreventAction},
			},
			GuestUsers:            []Limit{{Max: 50, Behavior: BehaviorPreventAction}},
			RoomsPerGuest:         []Limit{{Max: 10, Behavior: BehaviorPreventAction}},
			MonthlyActiveContacts: []Limit{{Max: 100, Behavior: BehaviorDisableModules, Modules: []string{"livechat-enterprise"}}},
		},
		CloudMeta: &CloudMeta{
			WorkspaceID: "ws_123", CustomerID: "cus_9", PlanID: "pro", PlanName: "Pro",
			PlanVersion: 3, Sequence: 7, SupportPlan: "standard",
		},
		SupportedVersions: json.RawMessage(`{"timestamp":"2025-01-01T00:00:00.000Z","versions":[]}`),
	}
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
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

func TestGolden(t *testing.T) {
	key := mustKey(t)
	lic, err := Sign(sampleDocument(), key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.MarshalIndent(sampleDocument(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "golden_document.json", string(doc))
	checkGolden(t, "golden_license.txt", lic)

	// The golden itself must be a license the public key alone accepts.
	want, err := os.ReadFile(filepath.Join("testdata", "golden_license.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := VerifyWithKey(strings.TrimSpace(string(want)), key.Public())
	if err != nil {
		t.Fatalf("golden license does not verify: %v", err)
	}
	if !reflect.DeepEqual(d, sampleDocument()) {
		t.Errorf("golden license holds %+v", d)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f, err := keys.LoadOrCreateFile(filepath.Join("testdata", "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := f.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keyFor := func(kid string) (*rsa.PublicKey, error) {
		for _, p := range pubs {
			if p.ID == kid {
				return p.Key, nil
			}
		}
		return nil, fmt.Errorf("no key %q", kid)
	}

	tests := []struct {
		name string
		doc  func() *Document
	}{
		{"full", sampleDocument},
		{"minimal", func() *Document {
			return &Document{
				Version:     Version,
				Information: Information{ID: "lic_min", CreatedAt: FormatTime(created), GrantedBy: GrantedBy{Method: GrantedManually}},
				Validation:  Validation{StatisticsReport: &StatisticsReport{}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lic, err := Sign(tt.doc(), key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(lic, Prefix) {
				t.Fatalf("license lacks %s: %.20s", Prefix, lic)
			}
			d, h, err := Verify(lic, keyFor)
			if err != nil {
				t.Fatal(err)
			}
			if h != (jws.Header{Alg: "RS256", Typ: "JWT", Kid: key.ID}) {
				t.Errorf("header = %+v", h)
			}
			want := tt.doc()
			// Nil required arrays come back as empty ones.
			if want.Validation.ServerURLs == nil {
				want.Validation.ServerURLs = []ServerURL{}
			}
			if want.Validation.ValidPeriods == nil {
				want.Validation.ValidPeriods = []Period{}
			}
			if want.GrantedModules == nil {
				want.GrantedModules = []Module{}
			}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", d, want)
			}
		})
	}
}

func TestMarshalShape(t *testing.T) {
	t.Parallel()
	d := &Document{
		Version:     Version,
		Information: Information{ID: "l", CreatedAt: "2025-01-15T10:00:00.000Z", GrantedBy: GrantedBy{Method: GrantedManually}},
		Validation:  Validation{StatisticsReport: &StatisticsReport{}},
	}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"version":"3.0","information":{"id":"l","autoRenew":false,"trial":false,"offline":false,` +
		`"createdAt":"2025-01-15T10:00:00.000Z","grantedBy":{"method":"manual"}},` +
		`"validation":{"serverUrls":[],"validPeriods":[],"statisticsReport":{"required":false}},` +
		`"grantedModules":[],"limits":{}}`
	if string(got) != want {
		t.Errorf("minimal document:\n got %s\nwant %s", got, want)
	}
}

// resign signs payload as a license with the test key, bypassing Validate.
func resign(t testing.TB, payload string) string {
	t.Helper()
	key := mustKey(t)
	tok, err := jws.Sign(key.Signer, key.ID, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return Prefix + tok
}

// sampleJSON returns the compact JSON of sampleDocument.
func sampleJSON(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(sampleDocument())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit returns sampleJSON with old replaced by new.
func edit(t testing.TB, old, new string) string {
	t.Helper()
	s := sampleJSON(t)
	if !strings.Contains(s, old) {
		t.Fatalf("document has no %s", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	good, err := Sign(sampleDocument(), key)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(strings.TrimPrefix(good, Prefix), ".")
	enc := base64.RawURLEncoding.EncodeToString
	tampered := Prefix + segs[0] + "." + enc([]byte(edit(t, `"max":25`, `"max":2500`))) + "." + segs[2]
	algNone := Prefix + enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + segs[1] + "."

	tests := []struct {
		name     string
		lic      string
		pub      *rsa.PublicKey
		want     error
		wantPath string
	}{
		{"tampered payload", tampered, key.Public(), jws.ErrBadSignature, ""},
		{"wrong key", good, &otherKey().PublicKey, jws.ErrBadSignature, ""},
		{"no prefix", strings.TrimPrefix(good, Prefix), key.Public(), ErrNotV3, ""},
		{"V2 prefix", "RCV2_" + strings.TrimPrefix(good, Prefix), key.Public(), ErrNotV3, ""},
		{"lower-case prefix", "rcv3_" + strings.TrimPrefix(good, Prefix), key.Public(), ErrNotV3, ""},
		{"alg none", algNone, key.Public(), jws.ErrUnsupportedAlg, ""},
		{"not a JWT", Prefix + "hello", key.Public(), jws.ErrMalformed, ""},
		{"signed invalid document", resign(t, edit(t, `"version":"3.0"`, `"version":"2.0"`)), key.Public(), ErrInvalid, "version"},
		{"signed exp claim", resign(t, edit(t, `"version":"3.0"`, `"exp":1,"version":"3.0"`)), key.Public(), ErrInvalid, ""},
		{"signed unknown field", resign(t, edit(t, `"trial":false`, `"trial":false,"extra":1`)), key.Public(), ErrInvalid, ""},
		{"signed missing member", resign(t, edit(t, `"trial":false,`, ``)), key.Public(), ErrInvalid, "information.trial"},
		{"signed null array", resign(t, edit(t, `"serverUrls":[{"value":"chat.example.com","type":"url"}]`, `"serverUrls":null`)), key.Public(), ErrInvalid, "validation.serverUrls"},
		{"signed trailing data", resign(t, sampleJSON(t)+"{}"), key.Public(), ErrInvalid, ""},
		{"signed non-object", resign(t, `[]`), key.Public(), ErrInvalid, ""},
		{"signed null", resign(t, `null`), key.Public(), ErrInvalid, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := VerifyWithKey(tt.lic, tt.pub)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyWithKey error = %v, want %v", err, tt.want)
			}
			if d != nil {
				t.Error("document returned with an error")
			}
			if tt.wantPath != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Path != tt.wantPath {
					t.Errorf("error %v does not name %s", err, tt.wantPath)
				}
			}
		})
	}

	t.Run("unknown kid", func(t *testing.T) {
		t.Parallel()
		_, _, err := Verify(good, func(kid string) (*rsa.PublicKey, error) { return nil, errors.New("retired") })
		if !errors.Is(err, jws.ErrUnknownKey) {
			t.Errorf("error = %v, want %v", err, jws.ErrUnknownKey)
		}
	})
}

func TestSignRejects(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	invalid := sampleDocument()
	invalid.Version = "2.0"
	noAlg := key
	noAlg.Algorithm = ""
	tests := []struct {
		name string
		doc  *Document
		key  keys.Key
		want error
	}{
		{"invalid document", invalid, key, ErrInvalid},
		{"nil document", nil, key, ErrInvalid},
		{"key without algorithm", sampleDocument(), noAlg, nil},
		{"key without signer", sampleDocument(), keys.Key{ID: "k", Algorithm: keys.AlgRS256}, jws.ErrNotRSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lic, err := Sign(tt.doc, tt.key)
			if err == nil || lic != "" {
				t.Fatalf("Sign = %q, %v; want an error", lic, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Sign error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseUnverified(t *testing.T) {
	t.Parallel()
	lic := resign(t, edit(t, `"version":"3.0"`, `"version":"2.0"`))
	d, h, err := ParseUnverified(lic)
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "2.0" || h.Kid != mustKey(t).ID {
		t.Errorf("ParseUnverified = %+v, %+v", d.Information, h)
	}
	if _, _, err := ParseUnverified("nope"); !errors.Is(err, ErrNotV3) {
		t.Errorf("error = %v, want %v", err, ErrNotV3)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	lic, err := Sign(sampleDocument(), mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if kid, err := KeyID(lic); err != nil || kid != mustKey(t).ID {
		t.Errorf("KeyID = %q, %v; want %q", kid, err, mustKey(t).ID)
	}
	for _, bad := range []string{"nope", Prefix + "not base64!.x.y", Prefix + "e30"} {
		if kid, err := KeyID(bad); err == nil {
			t.Errorf("KeyID(%q) = %q, want an error", bad, kid)
		}
	}
}

func TestReadLimits(t *testing.T) {
	t.Parallel()
	doc := sampleDocument()
	lic, err := Sign(doc, mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadLimits(lic)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Limits.ActiveUsers) == 0 || !reflect.DeepEqual(got, doc.Limits) {
		t.Errorf("ReadLimits = %+v, want the signed document's %+v", got, doc.Limits)
	}
	if _, err := ReadLimits("nope"); !errors.Is(err, ErrNotV3) {
		t.Errorf("error = %v, want %v", err, ErrNotV3)
	}
	if _, err := ReadLimits(resign(t, `{"limits":[]}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("limits of the wrong shape: error = %v, want %v", err, ErrInvalid)
	}
}

func FuzzVerify(f *testing.F) {
	key := mustKey(f)
	good, err := Sign(sampleDocument(), key)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good,
		good[:len(good)/2],
		strings.TrimPrefix(good, Prefix),
		Prefix,
		Prefix + "..",
		Prefix + "a.b.c",
		resign(f, `{}`),
		resign(f, `null`),
		resign(f, `{"version":"3.0","information":null,"validation":{"statisticsReport":null}}`),
		resign(f, `{"version":"3.0","limits":{"activeUsers":[{"max":-1,"behavior":"disable_modules"}]}}`),
	} {
		f.Add(s)
	}
	pub := key.Public()
	f.Fuzz(func(t *testing.T, lic string) {
		if d, err := VerifyWithKey(lic, pub); err == nil {
			if err := d.Validate(); err != nil {
				t.Fatalf("verified document is invalid: %v", err)
			}
			_ = d.Summarize(created)
		}
		if d, _, err := ParseUnverified(lic); err == nil {
			_ = d.Validate()
			_ = d.Summarize(created)
			_ = d.MatchesAddress("chat.example.com")
		}
	})
}

// FuzzDocument feeds arbitrary payloads to the decoding and checking that
// follow a good signature, which FuzzVerify cannot reach without the key.
func FuzzDocument(f *testing.F) {
	good, err := json.Marshal(sampleDocument())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"validation":{"serverUrls":[{"value":"*[","type":"regex"}]}}`))
	f.Add([]byte(`{"validation":{"validPeriods":[{"validFrom":"x","validUntil":"2025-01-01T00:00:00Z"}]}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		d, err := decode(payload)
		if err != nil {
			return
		}
		if d.Validate() == nil {
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("valid document does not marshal: %v", err)
			}
		}
		_ = d.Summarize(created)
		_ = d.MatchesAddress("https://chat.example.com/")
	})
}
