package accesstoken

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
)

var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var out [2]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(key, kid, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifier returns a verifier at a fixed time whose fetch serves keys and
// counts calls. Each fetch returns a copy, as a real fetch would.
func verifier(now time.Time, keys map[string]*rsa.PublicKey, fetchErr error) (*Verifier, *int) {
	calls := new(int)
	return &Verifier{now: func() time.Time { return now }, fetch: func(context.Context) (map[string]*rsa.PublicKey, error) {
		*calls++
		return maps.Clone(keys), fetchErr
	}}, calls
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	k := testKeys()
	keys := map[string]*rsa.PublicKey{"k1": &k[0].PublicKey}
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "licensing-tokens", "sub": "ws-1", "aud": "workspace", "client_id": "c", "scope": "workspace:license:read marketplace:read", "iat": now.Unix(), "exp": now.Unix() + 60}
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  error // nil: valid
	}{
		{"valid", func(t *testing.T) string { return sign(t, k[0], "k1", claims(nil)) }, nil},
		{"expires next second", func(t *testing.T) string {
			return sign(t, k[0], "k1", claims(func(c map[string]any) { c["exp"] = now.Unix() + 1 }))
		}, nil},
		{"expires now", func(t *testing.T) string {
			return sign(t, k[0], "k1", claims(func(c map[string]any) { c["exp"] = now.Unix() }))
		}, ErrExpired},
		{"no exp", func(t *testing.T) string {
			return sign(t, k[0], "k1", claims(func(c map[string]any) { delete(c, "exp") }))
		}, ErrExpired},
		{"wrong audience", func(t *testing.T) string {
			return sign(t, k[0], "k1", claims(func(c map[string]any) { c["aud"] = "admin" }))
		}, ErrInvalid},
		{"no subject", func(t *testing.T) string {
			return sign(t, k[0], "k1", claims(func(c map[string]any) { c["sub"] = "" }))
		}, ErrInvalid},
		{"other key, same kid", func(t *testing.T) string { return sign(t, k[1], "k1", claims(nil)) }, ErrInvalid},
		{"unknown kid", func(t *testing.T) string { return sign(t, k[1], "k2", claims(nil)) }, ErrInvalid},
		{"claims not JSON object", func(t *testing.T) string {
			tok, err := jws.Sign(k[0], "k1", []byte(`"just a string"`))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, ErrInvalid},
		{"alg none", func(t *testing.T) string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`))
			p, _ := json.Marshal(claims(nil))
			return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
		}, ErrInvalid},
		{"tampered payload", func(t *testing.T) string {
			parts := strings.Split(sign(t, k[0], "k1", claims(nil)), ".")
			p, _ := json.Marshal(claims(func(c map[string]any) { c["sub"] = "ws-2" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, ErrInvalid},
		{"garbage", func(*testing.T) string { return "a.b" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, _ := verifier(now, keys, nil)
			c, err := v.Verify(t.Context(), tt.token(t))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				if c.WorkspaceID() != "ws-1" || !c.HasScope("marketplace:read") || c.HasScope("workspace:stats:write") || c.HasScope("marketplace") {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// A fetch failure is an outage, reported as neither ErrInvalid nor
// ErrExpired, so the gateway answers 503 rather than 401.
func TestVerifyKeyOutage(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	k := testKeys()
	outage := errors.New("tokens unavailable")
	v, _ := verifier(now, nil, outage)
	_, err := v.Verify(t.Context(), sign(t, k[0], "k1", map[string]any{"sub": "ws-1", "aud": "workspace", "exp": now.Unix() + 60}))
	if !errors.Is(err, outage) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrExpired) {
		t.Fatalf("Verify = %v, want the outage itself", err)
	}
}

// Keys are fetched once; an unknown kid refreshes them at most every ten
// seconds, so a rotated key is picked up without a flood of made-up kids
// reaching the token service.
func TestVerifyRefreshesForNewKeys(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	k := testKeys()
	keys := map[string]*rsa.PublicKey{"k1": &k[0].PublicKey}
	v, calls := verifier(now, keys, nil)
	c := map[string]any{"sub": "ws-1", "aud": "workspace", "exp": now.Unix() + 60}

	for range 3 {
		if _, err := v.Verify(t.Context(), sign(t, k[0], "k1", c)); err != nil {
			t.Fatal(err)
		}
	}
	if *calls != 1 {
		t.Fatalf("fetched %d times for one key, want 1", *calls)
	}
	// A new key appears at the token service; within ten seconds of the last
	// fetch the verifier does not look again.
	keys["k2"] = &k[1].PublicKey
	if _, err := v.Verify(t.Context(), sign(t, k[1], "k2", c)); !errors.Is(err, ErrInvalid) || *calls != 1 {
		t.Fatalf("Verify = %v after %d fetches, want ErrInvalid without a fetch", err, *calls)
	}
	v.mu.Lock()
	v.fetchedAt = v.fetchedAt.Add(-11 * time.Second)
	v.mu.Unlock()
	if _, err := v.Verify(t.Context(), sign(t, k[1], "k2", c)); err != nil || *calls != 2 {
		t.Fatalf("Verify = %v after %d fetches, want the new key found with a second fetch", err, *calls)
	}
}

// A token verified once is remembered: the next use checks no signature,
// yet it still expires on time, and a token differing in any byte is not
// taken for it.
func TestVerifyRemembersVerifiedTokens(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	k := testKeys()
	clock := now
	v, _ := verifier(now, map[string]*rsa.PublicKey{"k1": &k[0].PublicKey}, nil)
	v.now = func() time.Time { return clock }
	tok := sign(t, k[0], "k1", map[string]any{"sub": "ws-1", "aud": "workspace", "exp": now.Unix() + 60})
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.verified))
	}
	// Remembered: the keys are gone, yet the token verifies.
	v.keys, v.fetch = nil, func(context.Context) (map[string]*rsa.PublicKey, error) { return nil, errors.New("no keys") }
	if c, err := v.Verify(t.Context(), tok); err != nil || c.WorkspaceID() != "ws-1" {
		t.Fatalf("remembered token: %+v, %v", c, err)
	}
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[len(sig)-2] ^= 1
	if _, err := v.Verify(t.Context(), parts[0]+"."+parts[1]+"."+string(sig)); err == nil {
		t.Fatal("a token with another signature was taken for the remembered one")
	}
	clock = now.Add(61 * time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("remembered token after its expiry: %v, want %v", err, ErrExpired)
	}
}
