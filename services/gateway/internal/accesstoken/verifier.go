// Package accesstoken verifies workspace access tokens locally in the
// gateway, with the token service's public keys fetched once and refreshed
// when a token names a key the gateway has not seen.
package accesstoken

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// Errors of verification.
var (
	ErrInvalid = errors.New("access token invalid")
	ErrExpired = errors.New("access token expired")
)

// Claims of a workspace access token.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// WorkspaceID is the workspace the token was issued to.
func (c Claims) WorkspaceID() string { return c.Subject }

// HasScope reports whether the token grants scope.
func (c Claims) HasScope(scope string) bool { return slices.Contains(strings.Fields(c.Scope), scope) }

// Verifier checks tokens against cached keys.
type Verifier struct {
	fetch func(ctx context.Context) (map[string]*rsa.PublicKey, error)
	now   func() time.Time

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time

	// verified remembers the claims of tokens whose signature checked out,
	// by the token's digest: a workspace presents the same token for an
	// hour, and an RSA verification costs more than the rest of a sync's
	// work in the gateway. Expiry is still checked on every use.
	verifiedMu sync.RWMutex
	verified   map[[sha256.Size]byte]Claims
}

// maxVerified bounds the remembered tokens (about 200 bytes each); when it
// is reached they are forgotten all at once and verified again as they
// come.
const maxVerified = 100_000

// NewVerifier returns a verifier that loads keys from tokens.
func NewVerifier(tokens tokensv1.TokenServiceClient) *Verifier {
	return &Verifier{now: time.Now, fetch: func(ctx context.Context) (map[string]*rsa.PublicKey, error) {
		resp, err := tokens.GetAccessTokenKeys(ctx, &tokensv1.GetAccessTokenKeysRequest{})
		if err != nil {
			return nil, err
		}
		out := map[string]*rsa.PublicKey{}
		for _, k := range resp.GetKeys() {
			pub, err := x509.ParsePKIXPublicKey(k.GetSpkiDer())
			if err != nil {
				return nil, fmt.Errorf("access token key %s: %w", k.GetKid(), err)
			}
			rsaPub, ok := pub.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("access token key %s is not RSA", k.GetKid())
			}
			out[k.GetKid()] = rsaPub
		}
		return out, nil
	}}
}

// Verify checks the signature, expiry and audience of token. An error that
// is neither ErrInvalid nor ErrExpired means the keys could not be fetched
// (an outage, not a bad token).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	digest := sha256.Sum256([]byte(token))
	v.verifiedMu.RLock()
	c, ok := v.verified[digest]
	v.verifiedMu.RUnlock()
	if !ok {
		var err error
		if c, err = v.verify(ctx, token); err != nil {
			return Claims{}, err
		}
		v.remember(digest, c)
	}
	if v.now().Unix() >= c.ExpiresAt {
		return Claims{}, ErrExpired
	}
	return c, nil
}

func (v *Verifier) remember(digest [sha256.Size]byte, c Claims) {
	v.verifiedMu.Lock()
	defer v.verifiedMu.Unlock()
	if v.verified == nil || len(v.verified) >= maxVerified {
		v.verified = make(map[[sha256.Size]byte]Claims)
	}
	v.verified[digest] = c
}

// forget drops every remembered token: the keys changed.
func (v *Verifier) forget() {
	v.verifiedMu.Lock()
	defer v.verifiedMu.Unlock()
	v.verified = nil
}

// verify checks the signature and the claims' shape of token.
func (v *Verifier) verify(ctx context.Context, token string) (Claims, error) {
	var outage error
	_, payload, err := jws.Verify(token, func(kid string) (*rsa.PublicKey, error) {
		if k := v.key(kid); k != nil {
			return k, nil
		}
		if err := v.refresh(ctx); err != nil {
			outage = err
			return nil, err
		}
		if k := v.key(kid); k != nil {
			return k, nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	})
	if outage != nil {
		return Claims{}, outage
	}
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrInvalid, err)
	}
	if c.Audience != "workspace" || c.Subject == "" {
		return Claims{}, fmt.Errorf("%w: not a workspace access token", ErrInvalid)
	}
	return c, nil
}

func (v *Verifier) key(kid string) *rsa.PublicKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys[kid]
}

// refresh reloads the keys, at most once every ten seconds, so tokens with
// made-up key ids cannot turn the gateway into a load on the token service.
func (v *Verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil && time.Since(v.fetchedAt) < 10*time.Second {
		return nil
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.keys, v.fetchedAt = keys, time.Now()
	v.forget()
	return nil
}
