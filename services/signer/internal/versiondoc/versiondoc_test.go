package versiondoc_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
	"github.com/cloudlicense/authority/services/signer/internal/versiondoc"
)

type embedded struct {
	Timestamp string `json:"timestamp"`
	Versions  []struct {
		Version    string `json:"version"`
		Expiration string `json:"expiration"`
	} `json:"versions"`
	Signed string `json:"signed"`
}

// TestLicensesEmbedTheSignedDocument issues licenses through the real
// issuance path and reads each back as a workspace does: supportedVersions
// is the signed document, its JWT verifies with the license key, one signed
// copy serves licenses until it is invalidated or a minute passes, and a new
// release reaches the next license after the change.
func TestLicensesEmbedTheSignedDocument(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	km := signertest.NewKeys(t)
	var now atomic.Pointer[time.Time]
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now.Store(&start)
	clock := func() time.Time { return *now.Load() }
	cache := versiondoc.New(km, clock)
	ws := domain.Workspace{ID: "ws-embed", CustomerID: "cus_embed", RegisteredAt: start.Add(-time.Hour)}
	svc := issuance.New(st, km, signertest.NewRegistry(ws), issuance.WithClock(clock), issuance.WithSupportedVersions(cache))

	issue := func(address string) embedded {
		t.Helper()
		l, _, err := svc.Ensure(ctx, ws.ID, address)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := license.VerifyWithKey(l.Token, km.Key.Public())
		if err != nil {
			t.Fatal(err)
		}
		var sv embedded
		if err := json.Unmarshal(doc.SupportedVersions, &sv); err != nil {
			t.Fatalf("supportedVersions %s: %v", doc.SupportedVersions, err)
		}
		h, payload, err := jws.Verify(sv.Signed, km.KeyFor())
		if err != nil || h.Kid != km.Key.ID {
			t.Fatalf("embedded signed: %v (header %+v)", err, h)
		}
		var claims embedded
		if err := json.Unmarshal(payload, &claims); err != nil || claims.Timestamp != sv.Timestamp || len(claims.Versions) != len(sv.Versions) {
			t.Fatalf("embedded payload %s differs from the document %+v", payload, sv)
		}
		return sv
	}

	first := issue("https://one.embed.test")
	if len(first.Versions) != 6 {
		t.Fatalf("embedded versions %+v, want the 6 seeded releases", first.Versions)
	}
	if again := issue("https://two.embed.test"); again.Signed != first.Signed {
		t.Error("a second license within the minute signed the document again")
	}

	if _, err := st.RecordRelease(ctx, domain.Release{Version: "7.4.0", ReleasedAt: start.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cache.Invalidate() // what the change event does in every replica
	later := start.Add(time.Second)
	now.Store(&later)
	after := issue("https://three.embed.test")
	if len(after.Versions) != 7 || after.Signed == first.Signed {
		t.Errorf("after a new release and the change: %d versions, re-signed %v", len(after.Versions), after.Signed != first.Signed)
	}

	// Without the event, the copy is re-signed once it is a minute old.
	if _, err := st.RecordRelease(ctx, domain.Release{Version: "7.5.0", ReleasedAt: start}); err != nil {
		t.Fatal(err)
	}
	stale := later.Add(versiondoc.MaxAge)
	now.Store(&stale)
	if got := issue("https://four.embed.test"); len(got.Versions) != 8 {
		t.Errorf("a minute on: %d versions, want 8", len(got.Versions))
	}
}
