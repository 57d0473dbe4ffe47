package domain

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden supported-versions documents in testdata")

// TestGoldenSupportedVersions signs fixed documents with the license
// library's fixed throwaway key at a fixed clock and compares the bytes a
// workspace receives, "signed" included, with testdata (go test -run
// GoldenSupportedVersions -update rewrites them). RS256 (PKCS #1 v1.5) is
// deterministic, so any change to the members, their order, the times'
// format, the default window or the JWT's header and claims shows up as a
// diff to review.
func TestGoldenSupportedVersions(t *testing.T) {
	t.Parallel()
	f, err := keys.LoadOrCreateFile(filepath.Join("..", "..", "..", "..", "pkg", "license", "testdata", "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	releases := []Release{
		{Version: "7.3.0", ReleasedAt: day("2026-09-08T00:00:00Z"), UpdatedAt: day("2026-09-08T10:00:00Z")},
		{Version: "7.2.0", ReleasedAt: day("2026-06-09T00:00:00Z"), UpdatedAt: day("2026-06-09T10:00:00Z")},
		{Version: "7.1.0", ReleasedAt: day("2026-03-10T00:00:00Z"), SupportMonths: 9, UpdatedAt: day("2026-03-10T10:00:00Z")},
	}
	for _, tc := range []struct {
		name   string
		policy VersionPolicy
	}{
		// The default window of six months.
		{"default", VersionPolicy{DefaultSupportMonths: 6, UpdatedAt: day("2026-01-01T00:00:00Z")}},
		// A default of twelve months moves every release without its own
		// window (7.1.0 keeps its nine), and the policy's change is the
		// document's timestamp.
		{"twelve_months", VersionPolicy{DefaultSupportMonths: 12, UpdatedAt: day("2026-11-30T08:00:00Z")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, _, err := SignSupportedVersions(NewSupportedVersions(releases, tc.policy, clock), clock, key)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "supported_versions_"+tc.name+".json")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(doc, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run GoldenSupportedVersions -update writes it)", err)
			}
			if got := append(doc, '\n'); !bytes.Equal(got, want) {
				t.Errorf("document differs from %s:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}
