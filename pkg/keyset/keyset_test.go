package keyset

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/pkg/validate"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	pool    *pgxpool.Pool
	svc     *Service
	clock   *clock
	seed    *rsa.PrivateKey
	changes []Change
}

var cfg = Config{Purpose: "test", PublishLead: time.Hour, VerifyAfterRetire: 30 * 24 * time.Hour}

// seedKey is generated once: key generation is slow.
var seedKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, keys.MinRSABits)
	if err != nil {
		panic(err)
	}
	return k
})

// newPool returns a pool on a fresh database holding the keyset's tables
// and an outbox, as a service's schema does.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), "svc", 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "svc", pgdb.Source{Name: "outbox", FS: outbox.Migrations()}, Migrations()); err != nil {
		t.Fatal(err)
	}
	return pool
}

func sealed(t *testing.T) *keys.Sealed {
	t.Helper()
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	s, err := keys.NewSealed(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := newPool(t)
	e := &env{pool: pool, clock: &clock{t: time.Now().UTC()}}
	b := sealed(t)
	e.svc = New(pool, keys.NewRing(b), b, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), WithClock(e.clock.now),
		WithHook(func(ctx context.Context, tx pgx.Tx, c Change) error {
			e.changes = append(e.changes, c)
			return nil
		}))
	e.seed = seedKey()
	if err := e.svc.Bootstrap(t.Context(), e.seed); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) states(t *testing.T) map[keys.State][]Key {
	t.Helper()
	all, err := e.svc.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[keys.State][]Key{}
	for _, k := range all {
		out[k.State] = append(out[k.State], k)
	}
	return out
}

func (e *env) keysetEvents(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT headers->>'Licensing-Aggregate-Seq' FROM outbox WHERE subject = 'licensing.keyset.changed.v1' AND headers->>'Licensing-Aggregate-Id' = 'test' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seqs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

func activeID(t *testing.T, m keys.Manager) string {
	t.Helper()
	k, err := m.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

func publicIDs(t *testing.T, m keys.Manager) map[string]bool {
	t.Helper()
	pubs, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pubs {
		out[p.ID] = true
	}
	return out
}

func TestBootstrapSeedsActiveAndNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.states(t)
	if len(st[keys.StateActive]) != 1 || st[keys.StateActive][0].ID != keys.KeyID(&e.seed.PublicKey) || len(st[keys.StateNext]) != 1 {
		t.Fatalf("after bootstrap: %d active (want the seed key), %d next", len(st[keys.StateActive]), len(st[keys.StateNext]))
	}
	if got := activeID(t, e.svc.Manager()); got != keys.KeyID(&e.seed.PublicKey) {
		t.Errorf("ring signs with %s, want the seed key", got)
	}
	// The next key is published (verifiers get it) but does not sign.
	if !publicIDs(t, e.svc.Manager())[st[keys.StateNext][0].ID] {
		t.Error("the next key is not among the published keys")
	}
	// A second start (another replica) changes nothing.
	if err := e.svc.Bootstrap(t.Context(), e.seed); err != nil {
		t.Fatal(err)
	}
	if got := e.keysetEvents(t); len(got) != 1 || got[0] != "1" || len(e.changes) != 1 || e.changes[0].Kind != ChangeCreated {
		t.Errorf("keyset events = %v, hook changes = %d; want one created change, sequence 1", got, len(e.changes))
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	before := e.states(t)
	oldActive, next := before[keys.StateActive][0], before[keys.StateNext][0]

	// The next key has not been published for the lead yet.
	if _, err := e.svc.Rotate(ctx, false); !errors.Is(err, ErrNextKeyTooNew) {
		t.Fatalf("early rotation: err = %v, want ErrNextKeyTooNew", err)
	}
	if got := activeID(t, e.svc.Manager()); got != oldActive.ID {
		t.Fatalf("a refused rotation changed the signing key to %s", got)
	}
	e.clock.add(cfg.PublishLead)
	res, err := e.svc.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Active.ID != next.ID || res.Retired.ID != oldActive.ID || res.Next.ID == "" || res.Next.ID == next.ID {
		t.Fatalf("rotation = active %s retired %s next %s; want %s, %s and a new key", res.Active.ID, res.Retired.ID, res.Next.ID, next.ID, oldActive.ID)
	}
	// New artifacts are signed with the new key at once on this replica.
	if got := activeID(t, e.svc.Manager()); got != next.ID {
		t.Errorf("ring signs with %s after the rotation, want %s", got, next.ID)
	}
	after := e.states(t)
	retired := after[keys.StateRetired][0]
	now := e.clock.now().Truncate(time.Microsecond)
	if !retired.RetiredAt.Equal(now) || !retired.NotAfter.Equal(now.Add(cfg.VerifyAfterRetire)) {
		t.Errorf("retired window = %v .. %v, want retired now and verifying %v more", retired.RetiredAt, retired.NotAfter, cfg.VerifyAfterRetire)
	}
	if a := after[keys.StateActive][0]; !a.NotBefore.Equal(now) {
		t.Errorf("new active key signs from %v, want now %v", a.NotBefore, now)
	}
	// The retired key still verifies; the new next key is published.
	pub := publicIDs(t, e.svc.Manager())
	if !pub[oldActive.ID] || !pub[next.ID] || !pub[res.Next.ID] || len(pub) != 3 {
		t.Errorf("published keys = %v, want retired, active and next", pub)
	}
	if got := e.keysetEvents(t); len(got) != 2 || got[1] != "2" {
		t.Errorf("keyset events = %v, want sequences 1, 2", got)
	}
	if c := e.changes[len(e.changes)-1]; c.Kind != ChangeRotated || c.KID != next.ID || c.Version != 2 || len(c.Keys) != 3 {
		t.Errorf("hook saw %+v", c)
	}
	// Forcing skips the lead (the new next key is brand new).
	if _, err := e.svc.Rotate(ctx, true); err != nil {
		t.Errorf("forced rotation: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	st := e.states(t)
	active, next := st[keys.StateActive][0], st[keys.StateNext][0]

	if _, _, err := e.svc.Revoke(ctx, "", ""); len(validate.Fields(err)) != 2 {
		t.Errorf("revoke without kid and reason: err = %v, want both fields named", err)
	}
	if _, _, err := e.svc.Revoke(ctx, "nope", "test"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("revoke unknown: err = %v", err)
	}
	// Revoking the active key promotes the next one at once, whatever the lead.
	revoked, promoted, err := e.svc.Revoke(ctx, active.ID, "compromised")
	if err != nil {
		t.Fatal(err)
	}
	if revoked.State != keys.StateRevoked || promoted.ID != next.ID {
		t.Fatalf("revoke = %s %s, promoted %s; want revoked and %s promoted", revoked.ID, revoked.State, promoted.ID, next.ID)
	}
	if got := activeID(t, e.svc.Manager()); got != next.ID {
		t.Errorf("ring signs with %s, want %s", got, next.ID)
	}
	if publicIDs(t, e.svc.Manager())[active.ID] {
		t.Error("the revoked key is still published")
	}
	after := e.states(t)
	if len(after[keys.StateNext]) != 1 || after[keys.StateRevoked][0].RevokedReason != "compromised" {
		t.Errorf("after revocation: %d next keys, reason %q", len(after[keys.StateNext]), after[keys.StateRevoked][0].RevokedReason)
	}
	if _, _, err := e.svc.Revoke(ctx, active.ID, "again"); !errors.Is(err, ErrKeyRevoked) {
		t.Errorf("revoke twice: err = %v, want ErrKeyRevoked", err)
	}
}

func pemOf(t *testing.T, priv *rsa.PrivateKey, pkcs8 bool) []byte {
	t.Helper()
	if !pkcs8 {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestImport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	oldActive := activeID(t, e.svc.Manager())

	// An existing key (PKCS#1) imported as active signs at once; the key it
	// replaces retires and keeps verifying.
	k, err := e.svc.Import(ctx, pemOf(t, priv, false), true)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != keys.KeyID(&priv.PublicKey) || activeID(t, e.svc.Manager()) != k.ID {
		t.Fatalf("imported %s, ring signs with %s", k.ID, activeID(t, e.svc.Manager()))
	}
	if !publicIDs(t, e.svc.Manager())[oldActive] {
		t.Error("the replaced key no longer verifies")
	}
	if _, err := e.svc.Import(ctx, pemOf(t, priv, true), false); !errors.Is(err, ErrKeyExists) {
		t.Errorf("import twice: err = %v, want ErrKeyExists", err)
	}
	for _, bad := range [][]byte{[]byte("not a key"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})} {
		_, err := e.svc.Import(ctx, bad, false)
		if f := validate.Fields(err); len(f) != 1 || f[0].Field != "private_key_pem" {
			t.Errorf("import %q: err = %v, want private_key_pem named", bad, err)
		}
	}
	// Imported as next, a key replaces the next key, which never signed.
	st := e.states(t)
	priv2, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, err := e.svc.Import(ctx, pemOf(t, priv2, true), false)
	if err != nil {
		t.Fatal(err)
	}
	after := e.states(t)
	if after[keys.StateNext][0].ID != k2.ID || len(after[keys.StateRevoked]) != 1 || after[keys.StateRevoked][0].ID != st[keys.StateNext][0].ID {
		t.Errorf("import as next: next = %s, revoked = %v", after[keys.StateNext][0].ID, after[keys.StateRevoked])
	}
}
