package resign

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

type env struct {
	store *store.Store
	svc   *keyset.Service
	now   time.Time
}

var cfg = keyset.Config{Purpose: "license", PublishLead: time.Hour, VerifyAfterRetire: 24 * time.Hour}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := signertest.NewPool(t)
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	b, err := keys.NewSealed(kek)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store.New(pool), now: time.Now().UTC()}
	e.svc = keyset.New(pool, keys.NewRing(b), b, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		keyset.WithClock(func() time.Time { return e.now }))
	if err := e.svc.Bootstrap(t.Context(), signertest.NewKeys(t).Key.Signer.(*rsa.PrivateKey)); err != nil {
		t.Fatal(err)
	}
	return e
}

func activeID(t *testing.T, m keys.Manager) string {
	t.Helper()
	k, err := m.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// TestResignResumes re-signs every current license with a new key in
// batches; a job is resumed from its cursor, and a second visit of a
// workspace issues nothing.
func TestResignResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	var ws []domain.Workspace
	for _, id := range []string{"ws-a", "ws-b", "ws-c", "ws-d", "ws-e"} {
		ws = append(ws, domain.Workspace{ID: id, CustomerID: "cus", ClientName: id, RegisteredAt: time.Now().Add(-time.Minute)})
	}
	iss := issuance.New(e.store, e.svc.Manager(), signertest.NewRegistry(ws...))
	for _, w := range ws {
		if _, _, err := iss.Ensure(ctx, w.ID, "chat.example.com"); err != nil {
			t.Fatal(err)
		}
	}
	oldKID := activeID(t, e.svc.Manager())
	e.now = e.now.Add(cfg.PublishLead)
	if _, err := e.svc.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	newKID := activeID(t, e.svc.Manager())

	r := New(e.store, e.svc.Manager(), iss, 2, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	job, err := r.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r.Start(ctx); again.ID != job.ID {
		t.Errorf("a second start made job %s beside %s", again.ID, job.ID)
	}
	// One batch, then the process "stops": the next steps go on from the cursor.
	if more, err := r.Step(ctx); err != nil || !more {
		t.Fatalf("first batch: more=%v err=%v", more, err)
	}
	j, _ := e.store.ResignJob(ctx, job.ID)
	if j.Visited != 2 || j.Resigned != 2 || j.Cursor != "ws-b" || j.Total != 5 {
		t.Fatalf("after one batch: %+v", j)
	}
	for more := true; more; {
		if more, err = r.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	j, _ = e.store.ResignJob(ctx, job.ID)
	if j.State != "done" || j.Visited != 5 || j.Resigned != 5 {
		t.Fatalf("finished job: %+v", j)
	}
	for _, w := range ws {
		ls, err := e.store.Licenses(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 2 || ls[0].KeyID != newKID || ls[1].KeyID != oldKID || ls[0].Address != "chat.example.com" {
			t.Fatalf("%s: %d licenses, newest by %s bound to %q; want the old one and one re-signed by %s", w.ID, len(ls), ls[0].KeyID, ls[0].Address, newKID)
		}
		pub := e.svc.Manager().(*keys.Ring)
		if _, _, err := license.Verify(ls[0].Token, func(kid string) (*rsa.PublicKey, error) {
			for _, p := range pub.Records() {
				if p.ID == kid {
					return p.Public, nil
				}
			}
			return nil, errors.New("unknown")
		}); err != nil {
			t.Fatalf("%s: re-signed license does not verify: %v", w.ID, err)
		}
	}
	// A new job for the same key finds nothing left to re-sign.
	job2, err := r.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		if more, err = r.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ := e.store.ResignJob(ctx, job2.ID); j.Resigned != 0 || j.Visited != 5 {
		t.Errorf("second job: %+v, want 5 visited and none re-signed", j)
	}
}
