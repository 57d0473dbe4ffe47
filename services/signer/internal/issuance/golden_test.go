package issuance

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden licenses in testdata")

// goldenKey is the license library's fixed throwaway test key: nothing may
// ever trust it.
func goldenKey(t *testing.T) signertest.Keys {
	t.Helper()
	f, err := keys.LoadOrCreateFile(filepath.Join("..", "..", "..", "..", "pkg", "license", "testdata", "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return signertest.Keys{Key: k}
}

// TestGoldenLicenses drives one workspace through its life with a fixed key,
// clock and license ids, and compares every license issued, byte for byte,
// with testdata/golden (go test -run Golden -update rewrites them). Any change
// to what a workspace receives shows up here as a diff to review.
func TestGoldenLicenses(t *testing.T) {
	t.Parallel()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	km := goldenKey(t)
	registeredAt := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	ws := domain.Workspace{ID: "65f0c0ffee0123456789abcd", CustomerID: "cus_golden", ClientName: "Golden Chat", RegisteredAt: registeredAt}
	clock := registeredAt
	ids := 0
	svc := New(st, km, signertest.NewRegistry(ws),
		WithClock(func() time.Time { return clock }),
		WithLicenseIDs(func() string { ids++; return fmt.Sprintf("lic_golden_%04d", ids) }))
	ctx := t.Context()

	var got []domain.License
	step := func(name string, at time.Time, c domain.Change) {
		t.Helper()
		clock = at
		out, err := svc.Change(ctx, ws.ID, ws.CustomerID, Idempotency{Key: name, Method: name, Hash: []byte(name)}, c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got = append(got, *out.License)
	}
	first, _, err := svc.Ensure(ctx, ws.ID, "https://chat.golden.example/")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, first)
	step("trial", registeredAt.Add(time.Hour), domain.StartTrial{Plan: domain.Plan{ID: "pro"}})
	step("purchase", registeredAt.AddDate(0, 0, 20), domain.ConvertTrial{Seats: new(40), Method: license.GrantedBySales, Seller: "Golden Sales"})
	step("seats", registeredAt.AddDate(0, 1, 0), domain.Grant{Plan: domain.Plan{ID: "pro"}, Seats: new(60), Limits: domain.LimitOverrides{GuestUsers: new(15)}})
	step("cancel", registeredAt.AddDate(0, 2, 0), domain.Cancel{})
	clock = registeredAt.AddDate(0, 2, 1)
	off, err := svc.OfflineLicense(ctx, ws.ID, "", "", Idempotency{Key: "offline", Method: "offline", Hash: []byte("offline")})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, *off.License)

	names := []string{"1-registered", "2-trial", "3-purchase", "4-seats", "5-cancel", "6-offline"}
	for i, l := range got {
		file := filepath.Join("testdata", "golden", names[i]+".txt")
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(l.Token+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -run Golden -update to create it)", err)
		}
		if l.Token != strings.TrimSpace(string(want)) {
			doc, _, _ := license.ParseUnverified(l.Token)
			t.Errorf("%s differs from %s; issued document: %+v", names[i], file, doc)
		}
		// The golden itself verifies with the public key alone.
		doc, err := license.VerifyWithKey(strings.TrimSpace(string(want)), km.Key.Public())
		if err != nil {
			t.Fatalf("%s does not verify: %v", file, err)
		}
		if doc.CloudMeta.Sequence != int64(i+1) || doc.Information.ID != fmt.Sprintf("lic_golden_%04d", i+1) {
			t.Errorf("%s: sequence %d id %s", file, doc.CloudMeta.Sequence, doc.Information.ID)
		}
	}
}
