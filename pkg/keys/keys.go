// Package keys holds the license signing keys: the Manager seam that hands out
// the active key as a crypto.Signer, a file-backed implementation, and the
// encodings of the public half that workspaces and verifiers consume (PEM, the
// base64 PUBLIC_LICENSE_KEY_V2 form, JWKS, and RFC 7638 key ids).
package keys

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// AlgRS256 is the algorithm every license key signs with.
const AlgRS256 = "RS256"

// MinRSABits is the smallest RSA modulus accepted for signing or verifying.
const MinRSABits = 2048

var (
	// ErrNoPEM reports input that holds no usable PEM key block.
	ErrNoPEM = errors.New("keys: no usable PEM key block")
	// ErrEncrypted reports a password-protected private key.
	ErrEncrypted = errors.New("keys: encrypted private keys are not supported")
	// ErrNotRSA reports a key of another type than RSA.
	ErrNotRSA = errors.New("keys: not an RSA key")
	// ErrKeyTooSmall reports an RSA key under MinRSABits.
	ErrKeyTooSmall = errors.New("keys: RSA key is smaller than 2048 bits")
)

// Key is a signing key. Its Signer may be remote (a KMS or HSM handle), so
// callers must not assume the private key is in memory.
type Key struct {
	ID        string // RFC 7638 thumbprint of the public key, the JWS kid
	Algorithm string // always AlgRS256
	Signer    crypto.Signer
	// NotBefore and NotAfter bound when the key may sign; zero means unbounded.
	NotBefore, NotAfter time.Time
}

// Public returns the key's RSA public half, or nil when the signer is missing
// or not RSA.
func (k Key) Public() *rsa.PublicKey {
	if k.Signer == nil {
		return nil
	}
	pub, _ := k.Signer.Public().(*rsa.PublicKey)
	return pub
}

// PublicKey is the verifying half of a Key, as published to verifiers.
type PublicKey struct {
	ID, Algorithm string
	Key           *rsa.PublicKey
	// State is "" when the publisher does not say (a plain JWKS).
	State State
	// NotBefore and RetiredAt bound when the key signed; NotAfter ends its
	// verification. Zero means unbounded.
	NotBefore, NotAfter, RetiredAt time.Time
}

// Manager is the seam for key storage: the file backend implements it today,
// and a KMS or HSM backend can implement it by returning a Key whose Signer
// calls out to the remote service.
type Manager interface {
	// Active returns the key new signatures must use.
	Active(ctx context.Context) (Key, error)
	// PublicKeys returns every key a verifier should accept, including retired
	// keys whose signatures are still in circulation.
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}

// NewKey wraps an RSA signer as a Key with an unbounded window, checking that
// it is RSA and at least MinRSABits, and deriving its ID with KeyID.
func NewKey(signer crypto.Signer) (Key, error) {
	if signer == nil {
		return Key{}, ErrNotRSA
	}
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return Key{}, fmt.Errorf("%w: got %T", ErrNotRSA, signer.Public())
	}
	if err := checkSize(pub); err != nil {
		return Key{}, err
	}
	return Key{ID: KeyID(pub), Algorithm: AlgRS256, Signer: signer}, nil
}

func checkSize(pub *rsa.PublicKey) error {
	if n := pub.N.BitLen(); n < MinRSABits {
		return fmt.Errorf("%w (got %d)", ErrKeyTooSmall, n)
	}
	return nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: SHA-256 over the
// canonical {"e","kty","n"} JSON, unpadded base64url. Being derived from the
// key, the same key always gets the same kid, on every replica and after reloads.
func KeyID(pub *rsa.PublicKey) string {
	// Members in lexicographic order, no whitespace, as RFC 7638 section 3.3 requires.
	// The base64url alphabet needs no JSON escaping.
	canon := `{"e":"` + b64u(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64u(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64u(sum[:])
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
	// Members beyond RFC 7517 (which lets a JWK carry others): the key's
	// state and window, so an offline verifier can check them. NumericDate
	// seconds as in JWT; omitted when unbounded.
	Status      State `json:"status,omitempty"`
	NotBefore   int64 `json:"nbf,omitempty"`
	SignedUntil int64 `json:"signed_until,omitempty"`
	NotAfter    int64 `json:"exp,omitempty"`
}

// JWKS renders keys as a JSON Web Key Set (RFC 7517). A key without an ID gets
// its KeyID, and one without an algorithm gets RS256.
func JWKS(keys []PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for i, k := range keys {
		if k.Key == nil {
			return nil, fmt.Errorf("keys: JWKS: key %d is nil", i)
		}
		kid, alg := k.ID, k.Algorithm
		if kid == "" {
			kid = KeyID(k.Key)
		}
		if alg == "" {
			alg = AlgRS256
		}
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Use: "sig", Alg: alg, Kid: kid,
			N:      b64u(k.Key.N.Bytes()),
			E:      b64u(big.NewInt(int64(k.Key.E)).Bytes()),
			Status: k.State, NotBefore: unix(k.NotBefore), SignedUntil: unix(k.RetiredAt), NotAfter: unix(k.NotAfter),
		})
	}
	return json.Marshal(set)
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// ParseJWKS reads a JSON Web Key Set of RSA keys, with the state and window
// members JWKS writes when present. Every key must have a kid, and the kid
// must be the key's RFC 7638 thumbprint: a set that pairs a kid with another
// key is refused rather than trusted.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("keys: JWKS: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`keys: JWKS: no "keys" array`)
	}
	out := make([]PublicKey, 0, len(set.Keys))
	for i, k := range set.Keys {
		if k.Kty != "RSA" {
			return nil, fmt.Errorf("keys: JWKS: key %d (%q): kty %q is not RSA", i, k.Kid, k.Kty)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("keys: JWKS: key %d (%q): bad n or e", i, k.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if err := checkSize(pub); err != nil {
			return nil, fmt.Errorf("keys: JWKS: key %d (%q): %w", i, k.Kid, err)
		}
		if want := KeyID(pub); k.Kid != want {
			return nil, fmt.Errorf("keys: JWKS: key %d: kid %q is not the key's thumbprint %q", i, k.Kid, want)
		}
		if k.Status != "" {
			if _, err := ParseState(string(k.Status)); err != nil {
				return nil, fmt.Errorf("keys: JWKS: key %q: %w", k.Kid, err)
			}
		}
		out = append(out, PublicKey{ID: k.Kid, Algorithm: k.Alg, Key: pub, State: k.Status,
			NotBefore: fromUnix(k.NotBefore), RetiredAt: fromUnix(k.SignedUntil), NotAfter: fromUnix(k.NotAfter)})
	}
	return out, nil
}
