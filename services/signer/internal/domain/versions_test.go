package domain

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/validate"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSignSupportedVersions(t *testing.T) {
	t.Parallel()
	f, err := keys.LoadOrCreateFile(filepath.Join("..", "..", "..", "..", "pkg", "license", "testdata", "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clock := day("2026-11-24T10:00:00Z")
	releases := []Release{
		{Version: "7.10.0", ReleasedAt: day("2026-08-31T12:00:00Z"), SupportMonths: 6, UpdatedAt: day("2026-09-01T00:00:00Z")},
		{Version: "7.2.0", ReleasedAt: day("2026-06-09T00:00:00Z"), UpdatedAt: day("2026-10-02T08:30:00Z")},
		{Version: "6.13.0", ReleasedAt: day("2025-09-09T00:00:00Z"), SupportMonths: 12, UpdatedAt: day("2025-09-09T00:00:00Z")},
	}
	policy := VersionPolicy{DefaultSupportMonths: 6, UpdatedAt: day("2026-01-01T00:00:00Z")}
	document, signed, err := SignSupportedVersions(NewSupportedVersions(releases, policy, clock), clock, key)
	if err != nil {
		t.Fatal(err)
	}

	wantDoc := map[string]any{
		"timestamp": "2026-10-02T08:30:00.000Z",
		"versions": []any{
			map[string]any{"version": "6.13.0", "expiration": "2026-09-09T00:00:00.000Z"},
			map[string]any{"version": "7.2.0", "expiration": "2026-12-09T00:00:00.000Z"},
			// August 31 + 6 months: the last day of February.
			map[string]any{"version": "7.10.0", "expiration": "2027-02-28T12:00:00.000Z"},
		},
	}
	var got map[string]any
	if err := json.Unmarshal(document, &got); err != nil {
		t.Fatal(err)
	}
	if got["signed"] != signed {
		t.Errorf("document signed = %v, want the returned JWT", got["signed"])
	}
	delete(got, "signed")
	if !reflect.DeepEqual(got, wantDoc) {
		t.Errorf("document = %v\nwant %v", got, wantDoc)
	}

	header, payload, err := jws.Verify(signed, func(kid string) (*rsa.PublicKey, error) {
		if kid != key.ID {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return key.Public(), nil
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if header.Alg != "RS256" || header.Kid != key.ID {
		t.Errorf("header = %+v, want RS256 and kid %q", header, key.ID)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iat"] != float64(clock.Unix()) {
		t.Errorf("iat = %v, want %d", claims["iat"], clock.Unix())
	}
	if _, ok := claims["exp"]; ok {
		t.Error("payload has exp")
	}
	delete(claims, "iat")
	if !reflect.DeepEqual(claims, wantDoc) {
		t.Errorf("payload = %v\nwant the document without signed: %v", claims, wantDoc)
	}
}

func TestSupportedVersionsWithoutReleases(t *testing.T) {
	t.Parallel()
	clock := day("2026-11-24T10:00:00Z")
	doc := NewSupportedVersions(nil, VersionPolicy{DefaultSupportMonths: 6}, clock)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"timestamp":"2026-11-24T10:00:00.000Z","versions":[]}`; string(b) != want {
		t.Errorf("document = %s, want %s", b, want)
	}
}

func TestCheckRelease(t *testing.T) {
	t.Parallel()
	at := day("2026-06-09T00:00:00Z")
	r, err := CheckRelease(Release{Version: "7.2.0", ReleasedAt: at.Add(1234567 * time.Nanosecond)})
	if err != nil {
		t.Fatal(err)
	}
	if r.SupportMonths != 0 || !r.ReleasedAt.Equal(at.Add(time.Millisecond)) {
		t.Errorf("checked release = %+v, want the policy's window (0) and a millisecond time", r)
	}
	for _, tc := range []struct {
		r     Release
		field string
	}{
		{Release{ReleasedAt: at}, "version"},
		{Release{Version: "7.2", ReleasedAt: at}, "version"},
		{Release{Version: "v7.2.0", ReleasedAt: at}, "version"},
		{Release{Version: "07.2.0", ReleasedAt: at}, "version"},
		{Release{Version: "7.2.0"}, "released_at"},
		{Release{Version: "7.2.0", ReleasedAt: at, SupportMonths: -1}, "support_months"},
		{Release{Version: "7.2.0", ReleasedAt: at, SupportMonths: MaxSupportMonths + 1}, "support_months"},
	} {
		_, err := CheckRelease(tc.r)
		fields := validate.Fields(err)
		if !errors.Is(err, validate.ErrInvalid) || len(fields) != 1 || fields[0].Field != tc.field {
			t.Errorf("CheckRelease(%+v) = %v, want an error naming %s", tc.r, err, tc.field)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"7.2.0", "7.10.0", -1},
		{"7.10.0", "7.9.9", 1},
		{"6.13.0", "7.0.0", -1},
		{"7.2.0", "7.2.0", 0},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// A workspace's document lists the releases of the lines its exceptions
// cover, expiring at the end of the latest exception's day, and only where
// that extends the release's own expiration.
func TestWithExceptions(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	exception := func(line, until string) VersionException {
		return VersionException{Exception: versionpolicy.Exception{Line: line, Until: day(until)}}
	}
	releases := []Release{
		{Version: "7.1.0", ReleasedAt: day("2024-01-10")},
		{Version: "7.1.2", ReleasedAt: day("2024-03-01")},
		{Version: "7.2.0", ReleasedAt: day("2026-10-01")},
	}
	doc := NewSupportedVersions(releases, VersionPolicy{DefaultSupportMonths: 6}, day("2026-11-01"))
	got := doc.WithExceptions("chat.example.com", "u-1", releases, []VersionException{
		exception("7.1", "2026-12-31"), exception("7.1", "2027-01-15"),
		exception("7.2", "2026-12-01"), // before 7.2.0's own expiration: nothing to extend
	})
	want := &WorkspaceExceptions{Domain: "chat.example.com", UniqueID: "u-1", Versions: []SupportedVersion{
		{Version: "7.1.0", Expiration: "2027-01-15T23:59:59.999Z"},
		{Version: "7.1.2", Expiration: "2027-01-15T23:59:59.999Z"},
	}}
	if !reflect.DeepEqual(got.Exceptions, want) {
		t.Errorf("exceptions = %+v, want %+v", got.Exceptions, want)
	}
	if none := doc.WithExceptions("d", "u", releases, nil); none.Exceptions != nil {
		t.Errorf("without exceptions: %+v", none.Exceptions)
	}
}
