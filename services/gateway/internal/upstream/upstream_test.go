package upstream

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/keys"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
)

type fakeKeys struct {
	keysv1.KeyServiceClient
	mu    sync.Mutex
	keys  []*keysv1.SigningKey
	err   error
	calls int
}

func (f *fakeKeys) ListKeys(context.Context, *keysv1.ListKeysRequest, ...grpc.CallOption) (*keysv1.ListKeysResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &keysv1.ListKeysResponse{Keys: f.keys}, nil
}

func (f *fakeKeys) set(keys []*keysv1.SigningKey, err error) {
	f.mu.Lock()
	f.keys, f.err = keys, err
	f.mu.Unlock()
}

func signingKey(t *testing.T, state string) (*keysv1.SigningKey, *rsa.PublicKey) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, keys.MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &keysv1.SigningKey{Kid: keys.KeyID(&priv.PublicKey), Algorithm: keys.AlgRS256, State: state, SpkiDer: der}, &priv.PublicKey
}

func TestLicenseKeyset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeKeys{err: status.Error(codes.Unavailable, "signer down")}
	c := &Clients{Client: &client.Client{Keys: f}, KeysetTTL: time.Minute}

	// Nothing cached yet: the outage is reported.
	if _, err := c.LicensePublicKeyPEM(ctx, ""); status.Code(err) != codes.Unavailable {
		t.Fatalf("first call during an outage = %v, want Unavailable", err)
	}

	active, activePub := signingKey(t, "active")
	retired, retiredPub := signingKey(t, "retired")
	revoked, _ := signingKey(t, "revoked")
	f.set([]*keysv1.SigningKey{active, retired, revoked}, nil)
	for range 3 {
		if got, err := c.LicensePublicKeyPEM(ctx, ""); err != nil || got != keys.PublicKeyPEM(activePub) {
			t.Fatalf("LicensePublicKeyPEM = %q, %v; want the active key", got, err)
		}
	}
	// A license signed by the retired key gets the retired key beside it.
	if got, _ := c.LicensePublicKeyPEM(ctx, retired.GetKid()); got != keys.PublicKeyPEM(retiredPub) {
		t.Fatalf("key of a license signed by the retired key = %q, want the retired key", got)
	}
	if f.calls != 2 {
		t.Fatalf("signer asked %d times, want 2 (the failed call and one fetch)", f.calls)
	}
	ks, _ := c.LicenseKeyset(ctx, "")
	if _, ok := ks.Key(revoked.GetKid()); ok || len(ks.Keys) != 2 {
		t.Fatalf("keyset = %d keys (revoked held: %v), want the active and retired keys only", len(ks.Keys), ok)
	}

	// Past the TTL the keyset is fetched again; a failure then serves the
	// stale keyset rather than failing a sync.
	c.mu.Lock()
	c.keysetAt = c.keysetAt.Add(-2 * time.Minute)
	c.mu.Unlock()
	f.set(nil, errors.New("signer down again"))
	if got, err := c.LicensePublicKeyPEM(ctx, ""); err != nil || got != keys.PublicKeyPEM(activePub) {
		t.Fatalf("stale keyset during an outage = %q, %v; want the active key", got, err)
	}
	// A rotation: a kid the cache does not know makes the gateway ask again
	// (at most once a second).
	rotated, rotatedPub := signingKey(t, "active")
	active.State = "retired"
	f.set([]*keysv1.SigningKey{rotated, active}, nil)
	c.mu.Lock()
	c.keysetAt = time.Now().Add(-2 * time.Second)
	c.mu.Unlock()
	if got, err := c.LicensePublicKeyPEM(ctx, rotated.GetKid()); err != nil || got != keys.PublicKeyPEM(rotatedPub) {
		t.Fatalf("after the rotation = %q, %v; want the new key", got, err)
	}
	// A keyset without an active key is refused.
	if _, err := keysetFrom([]*keysv1.SigningKey{retired}); err == nil {
		t.Error("a keyset without an active key was accepted")
	}
}
