package keys

import (
	"bytes"

	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testSealed(t *testing.T) *Sealed {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	s, err := NewSealed(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealedRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := testSealed(t)
	priv := rsaKey()
	ref, err := s.Import(ctx, priv)
	if err != nil {
		t.Fatal(err)
	}
	der := pkcs8(t, priv)
	if bytes.Contains(ref, der[len(der)-64:]) {
		t.Fatal("sealed reference holds the private key in the clear")
	}
	signer, err := s.Signer(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(signer.Public()) {
		t.Fatal("opened key is not the imported key")
	}
	// Another deployment's key-encryption key, and tampered material, do not open.
	if _, err := testSealed(t).Signer(ctx, ref); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("other KEK: err = %v, want ErrWrongKEK", err)
	}
	bad := bytes.Clone(ref)
	bad[len(bad)-1] ^= 1
	if _, err := s.Signer(ctx, bad); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("tampered: err = %v, want ErrWrongKEK", err)
	}
	if _, err := s.Signer(ctx, []byte{1, 2}); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("short: err = %v, want ErrWrongKEK", err)
	}
	if _, err := NewSealed(make([]byte, 16)); err == nil {
		t.Error("NewSealed accepted a 16-byte key")
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "keyset.kek")
	if _, err := LoadOrCreateKEK(path, false); err == nil {
		t.Fatal("missing KEK file without generate: no error")
	}
	a, err := LoadOrCreateKEK(path, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKEK(path, true)
	if err != nil || !bytes.Equal(a, b) || len(a) != KEKSize {
		t.Fatalf("second load = %x, %v; want the first key %x", b, err, a)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("KEK file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if err := os.WriteFile(path, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKEK(path, true); err == nil {
		t.Error("a KEK of 5 bytes was accepted")
	}
}

func record(t *testing.T, s *Sealed, state State) Record {
	t.Helper()
	ref, pub, err := s.Generate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return Record{ID: KeyID(pub), Algorithm: AlgRS256, State: state, Public: pub, Backend: s.Name(), Ref: ref}
}

func TestRing(t *testing.T) {
	ctx := t.Context()
	s := testSealed(t)
	r := NewRing(s)
	if _, err := r.Active(ctx); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("empty ring: err = %v, want ErrNoActiveKey", err)
	}
	next, active := record(t, s, StateNext), record(t, s, StateActive)
	retired, revoked := record(t, s, StateRetired), record(t, s, StateRevoked)
	expired := record(t, s, StateRetired)
	retired.NotAfter = time.Now().Add(time.Hour)
	expired.NotAfter = time.Now().Add(-time.Second)
	if err := r.Load(ctx, []Record{next, active, retired, revoked, expired}); err != nil {
		t.Fatal(err)
	}
	k, err := r.Active(ctx)
	if err != nil || k.ID != active.ID || !active.Public.Equal(k.Signer.Public()) {
		t.Fatalf("Active = %s, %v; want %s", k.ID, err, active.ID)
	}
	pubs, _ := r.PublicKeys(ctx)
	var ids []string
	for _, p := range pubs {
		ids = append(ids, p.ID)
	}
	want := []string{next.ID, active.ID, retired.ID}
	if len(ids) != len(want) || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Errorf("PublicKeys = %v, want next, active, retired %v (no revoked or expired key)", ids, want)
	}

	// A keyset that cannot be loaded leaves the previous one in place.
	twoActive := record(t, s, StateActive)
	if err := r.Load(ctx, []Record{active, twoActive}); err == nil {
		t.Error("two active keys loaded")
	}
	forged := next
	forged.State = StateActive
	forged.Public = active.Public
	forged.ID = active.ID
	if err := NewRing(s).Load(ctx, []Record{forged}); err == nil {
		t.Error("an active key whose private half does not match its public key loaded")
	}
	other := record(t, s, StateActive)
	other.Backend = "kms"
	if err := r.Load(ctx, []Record{other}); err == nil {
		t.Error("an active key of an unconfigured backend loaded")
	}
	if k, _ := r.Active(ctx); k.ID != active.ID {
		t.Errorf("after failed loads Active = %s, want %s", k.ID, active.ID)
	}
}

func TestCheckWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := PublicKey{State: StateRetired, NotBefore: t0, RetiredAt: t0.Add(24 * time.Hour), NotAfter: t0.Add(48 * time.Hour)}
	for _, c := range []struct {
		name       string
		key        PublicKey
		signed, at time.Time
		want       error
	}{
		{"inside", k, t0.Add(time.Hour), t0.Add(30 * time.Hour), nil},
		{"no times", k, time.Time{}, time.Time{}, nil},
		{"before activation", k, t0.Add(-time.Hour), t0, ErrOutsideWindow},
		{"after retirement", k, t0.Add(25 * time.Hour), t0.Add(26 * time.Hour), ErrOutsideWindow},
		{"by a replica yet to hear of the retirement", k, t0.Add(24*time.Hour + RetirementGrace - time.Second), t0.Add(26 * time.Hour), nil},
		{"after retirement and its grace", k, t0.Add(24*time.Hour + RetirementGrace + 2*time.Second), t0.Add(26 * time.Hour), ErrOutsideWindow},
		{"verification ended", k, t0.Add(time.Hour), t0.Add(49 * time.Hour), ErrKeyExpired},
		{"revoked", PublicKey{State: StateRevoked}, t0, t0, ErrKeyRevoked},
	} {
		if err := c.key.CheckWindow(c.signed, c.at); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: CheckWindow = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestJWKSRoundTripWithWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pub := &rsaKey().PublicKey
	in := PublicKey{ID: KeyID(pub), Algorithm: AlgRS256, Key: pub, State: StateRetired, NotBefore: t0, RetiredAt: t0.Add(time.Hour), NotAfter: t0.Add(2 * time.Hour)}
	data, err := JWKS([]PublicKey{in})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	got := out[0]
	if got.ID != in.ID || !got.Key.Equal(pub) || got.State != in.State || !got.NotBefore.Equal(t0) || !got.RetiredAt.Equal(in.RetiredAt) || !got.NotAfter.Equal(in.NotAfter) {
		t.Errorf("round trip = %+v, want %+v", got, in)
	}
	// A kid paired with another key is refused.
	bad := bytes.Replace(data, []byte(in.ID), []byte(KeyID(&mustRSA(2048).PublicKey)), 1)
	if _, err := ParseJWKS(bad); err == nil {
		t.Error("a JWKS whose kid is not the key's thumbprint was accepted")
	}
	for _, s := range []string{`{}`, `{"keys":[{"kty":"EC"}]}`, `not json`} {
		if _, err := ParseJWKS([]byte(s)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted", s)
		}
	}
}
