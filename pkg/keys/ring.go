package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrNoActiveKey reports a keyset with no active key: nothing can be signed
// until one is promoted or imported.
var ErrNoActiveKey = errors.New("keys: the keyset has no active key")

// Ring is a Manager over a keyset held in memory: the records and the
// opened signer of the active key. Active is an atomic load, so the signing
// hot path never reads the database; the keyset's owner calls Load after
// every change it makes or hears of.
type Ring struct {
	backends map[string]Backend
	snap     atomic.Pointer[ringSnapshot]
}

type ringSnapshot struct {
	active  Key
	hasKey  bool
	records []Record
}

var _ Manager = (*Ring)(nil)

// NewRing returns an empty ring that opens private keys with backends.
func NewRing(backends ...Backend) *Ring {
	r := &Ring{backends: map[string]Backend{}}
	for _, b := range backends {
		r.backends[b.Name()] = b
	}
	r.snap.Store(&ringSnapshot{})
	return r
}

// Load replaces the keyset. The active key's signer is opened first (reused
// when it is the key already loaded), so a failure leaves the previous
// keyset in place.
func (r *Ring) Load(ctx context.Context, records []Record) error {
	next := &ringSnapshot{records: append([]Record(nil), records...)}
	cur := r.snap.Load()
	for _, rec := range records {
		if rec.State != StateActive {
			continue
		}
		if next.hasKey {
			return fmt.Errorf("keys: keyset has two active keys (%s, %s)", next.active.ID, rec.ID)
		}
		var signer crypto.Signer
		if cur.hasKey && cur.active.ID == rec.ID {
			signer = cur.active.Signer
		} else {
			b, ok := r.backends[rec.Backend]
			if !ok {
				return fmt.Errorf("keys: active key %s is held by backend %q, which is not configured", rec.ID, rec.Backend)
			}
			s, err := b.Signer(ctx, rec.Ref)
			if err != nil {
				return fmt.Errorf("keys: open active key %s: %w", rec.ID, err)
			}
			if KeyID(rec.Public) != rec.ID || !rec.Public.Equal(s.Public()) {
				return fmt.Errorf("keys: active key %s: private key does not match the recorded public key", rec.ID)
			}
			signer = s
		}
		next.active = Key{ID: rec.ID, Algorithm: rec.Algorithm, Signer: signer, NotBefore: rec.NotBefore, NotAfter: rec.NotAfter}
		next.hasKey = true
	}
	r.snap.Store(next)
	return nil
}

// Active implements Manager.
func (r *Ring) Active(context.Context) (Key, error) {
	s := r.snap.Load()
	if !s.hasKey {
		return Key{}, ErrNoActiveKey
	}
	return s.active, nil
}

// PublicKeys implements Manager: every key that verifies (next, active and
// retired keys until their NotAfter), never a revoked one.
func (r *Ring) PublicKeys(context.Context) ([]PublicKey, error) {
	var out []PublicKey
	now := time.Now()
	for _, rec := range r.snap.Load().records {
		if rec.State.Verifies() && (rec.NotAfter.IsZero() || now.Before(rec.NotAfter)) {
			out = append(out, rec.PublicKey())
		}
	}
	return out, nil
}

// Records returns the whole keyset as last loaded, revoked keys included.
func (r *Ring) Records() []Record {
	return append([]Record(nil), r.snap.Load().records...)
}
