package authn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Cached answers expire: a revoked key stops working within the TTL, and a
// key refused once is asked about again once the negative entry expires.
func TestRemoteCacheExpires(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	valid := atomic.Bool{}
	valid.Store(true)
	r := NewRemote("", func(context.Context, string) (Principal, error) {
		calls.Add(1)
		if valid.Load() {
			return Principal{Name: "bob", Role: RoleBilling}, nil
		}
		return Principal{}, ErrInvalidKey
	})
	expire := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for k, c := range r.cache {
			c.expires = time.Now().Add(-time.Second)
			r.cache[k] = c
		}
	}
	steps := []struct {
		name    string
		before  func()
		wantErr bool
		calls   int64
	}{
		{"first lookup", nil, false, 1},
		{"cached", func() { valid.Store(false) }, false, 1},
		{"expired: revocation seen", expire, true, 2},
		{"negative answer cached", func() { valid.Store(true) }, true, 2},
		{"negative answer expired", expire, false, 3},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		_, err := r.Authenticate(t.Context(), "billing-key")
		if (err != nil) != s.wantErr || calls.Load() != s.calls {
			t.Fatalf("%s: err = %v, lookups = %d; want error %v, lookups %d", s.name, err, calls.Load(), s.wantErr, s.calls)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.cache {
		if k == "billing-key" {
			t.Error("the cache holds the key itself instead of its hash")
		}
	}
}
