// Package upstream holds the gateway's clients of the internal services and
// caches what rarely changes (the license signing keyset).
package upstream

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/keys"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
)

// Clients are the gateway's connections to the internal services.
type Clients struct {
	*client.Client

	// KeysetTTL is how long the keyset is used before the signer is asked
	// again. It must stay below the signer's KEYSET_PUBLISH_LEAD, so a next
	// key is served here before it signs anything.
	KeysetTTL time.Duration

	mu       sync.Mutex
	keyset   Keyset
	keysetAt time.Time
}

// Keyset is the license keys verifiers should accept, and which one signs.
type Keyset struct {
	// Keys are the next, active and retired keys, never a revoked or
	// expired one.
	Keys   []keys.PublicKey
	Active keys.PublicKey
	// pem is each key's PEM by kid, made once per keyset: every sync
	// answer carries one.
	pem map[string]string
}

// Key returns the key kid, or false.
func (k Keyset) Key(kid string) (keys.PublicKey, bool) {
	for _, p := range k.Keys {
		if p.ID == kid {
			return p, true
		}
	}
	return keys.PublicKey{}, false
}

// Dial connects (lazily) to every service.
func Dial(cfg client.Config) (*Clients, error) {
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Client: c, KeysetTTL: 30 * time.Second}, nil
}

// LicenseKeyset returns the keyset, asking the signer at most once per
// KeysetTTL; when the signer cannot answer, the last keyset is used however
// old (a stale keyset beats failing a sync). A kid the cached keyset does
// not hold (a key published since) makes it ask again.
func (c *Clients) LicenseKeyset(ctx context.Context, wantKID string) (Keyset, error) {
	c.mu.Lock()
	ks, at := c.keyset, c.keysetAt
	c.mu.Unlock()
	_, known := ks.Key(wantKID)
	fresh := ks.Active.Key != nil && time.Since(at) < c.KeysetTTL
	if fresh && (wantKID == "" || known || time.Since(at) < time.Second) {
		return ks, nil
	}
	resp, err := c.Keys.ListKeys(ctx, &keysv1.ListKeysRequest{})
	if err == nil {
		var next Keyset
		next, err = keysetFrom(resp.GetKeys())
		if err == nil {
			c.mu.Lock()
			c.keyset, c.keysetAt = next, time.Now()
			c.mu.Unlock()
			return next, nil
		}
	}
	if ks.Active.Key != nil {
		return ks, nil
	}
	return Keyset{}, err
}

func keysetFrom(pbs []*keysv1.SigningKey) (Keyset, error) {
	var ks Keyset
	now := time.Now()
	for _, k := range pbs {
		st, err := keys.ParseState(k.GetState())
		if err != nil {
			return ks, err
		}
		notAfter := optTime(k.GetNotAfter().AsTime(), k.GetNotAfter() != nil)
		if !st.Verifies() || (!notAfter.IsZero() && now.After(notAfter)) {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(k.GetSpkiDer())
		if err != nil {
			return ks, fmt.Errorf("license key %s: %w", k.GetKid(), err)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return ks, fmt.Errorf("license key %s is not RSA", k.GetKid())
		}
		p := keys.PublicKey{ID: k.GetKid(), Algorithm: k.GetAlgorithm(), Key: rsaPub, State: st,
			NotBefore: optTime(k.GetNotBefore().AsTime(), k.GetNotBefore() != nil),
			RetiredAt: optTime(k.GetRetiredAt().AsTime(), k.GetRetiredAt() != nil), NotAfter: notAfter}
		ks.Keys = append(ks.Keys, p)
		if ks.pem == nil {
			ks.pem = map[string]string{}
		}
		ks.pem[p.ID] = keys.PublicKeyPEM(rsaPub)
		if st == keys.StateActive {
			ks.Active = p
		}
	}
	if ks.Active.Key == nil {
		return ks, fmt.Errorf("the license keyset has no active key")
	}
	return ks, nil
}

func optTime(t time.Time, set bool) time.Time {
	if !set {
		return time.Time{}
	}
	return t
}

// LicensePublicKeyPEM returns the public half of the key that signed a
// license with kid as PEM, or of the active key when kid is "" or unknown:
// a workspace that verifies a license with the publicKey beside it succeeds
// across a rotation.
func (c *Clients) LicensePublicKeyPEM(ctx context.Context, kid string) (string, error) {
	ks, err := c.LicenseKeyset(ctx, kid)
	if err != nil {
		return "", err
	}
	if pem, ok := ks.pem[kid]; ok {
		return pem, nil
	}
	return ks.pem[ks.Active.ID], nil
}
