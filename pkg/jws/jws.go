// Package jws signs and verifies compact RS256 JSON Web Signatures (RFC 7515),
// the envelope of licenses and of the signed supported-versions document.
//
// Only RS256 is supported, on purpose: workspaces verify with an RSA public key,
// and accepting any other algorithm would open the door to algorithm confusion
// ("none", or HS256 keyed with the public key).
package jws

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// AlgRS256 is the only algorithm this package signs or accepts.
const AlgRS256 = "RS256"

var (
	// ErrMalformed reports a token that is not a well-formed compact JWS.
	ErrMalformed = errors.New("jws: malformed token")
	// ErrUnsupportedAlg reports a header alg other than RS256.
	ErrUnsupportedAlg = errors.New("jws: unsupported algorithm")
	// ErrUnknownKey reports that no verification key was found for the header kid.
	ErrUnknownKey = errors.New("jws: unknown key")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("jws: bad signature")
	// ErrNotRSA reports a signer whose public key is not RSA.
	ErrNotRSA = errors.New("jws: signer is not an RSA key")
)

// b64 is unpadded base64url. Strict rejects non-zero trailing bits, so each
// token has exactly one encoding and a flipped padding bit is not "the same" token.
var b64 = base64.RawURLEncoding.Strict()

// Header is the protected header of a token.
type Header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// KeyFunc returns the public key for a header kid. Its error is wrapped in
// ErrUnknownKey.
type KeyFunc func(kid string) (*rsa.PublicKey, error)

// Sign returns the compact JWS of payload signed by signer with RS256.
//
// The header is exactly {"alg":"RS256","typ":"JWT","kid":<kid>}, written by hand
// rather than marshalled so that its bytes, and thus golden signatures, never
// depend on struct field order.
func Sign(signer crypto.Signer, kid string, payload []byte) (string, error) {
	if signer == nil {
		return "", ErrNotRSA
	}
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: public key is %T", ErrNotRSA, signer.Public())
	}
	kidJSON, err := json.Marshal(kid)
	if err != nil {
		return "", fmt.Errorf("jws: encode kid: %w", err)
	}
	header := `{"alg":"RS256","typ":"JWT","kid":` + string(kidJSON) + `}`

	signingInput := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jws: sign: %w", err)
	}
	// The signer may be remote (KMS, HSM). Checking its output against the key it
	// advertises catches a misconfigured backend before a workspace rejects the token.
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return "", fmt.Errorf("%w: signer output does not verify with its public key", ErrBadSignature)
	}
	return signingInput + "." + b64.EncodeToString(sig), nil
}

// Verify checks token's RS256 signature with the key keyFor returns for the
// header kid, and returns the header and the raw payload bytes.
func Verify(token string, keyFor KeyFunc) (Header, []byte, error) {
	p, err := parse(token)
	if err != nil {
		return Header{}, nil, err
	}
	if p.header.Alg != AlgRS256 {
		return Header{}, nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, p.header.Alg)
	}
	if keyFor == nil {
		return Header{}, nil, fmt.Errorf("%w: no key function", ErrUnknownKey)
	}
	pub, err := keyFor(p.header.Kid)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%w: kid %q: %w", ErrUnknownKey, p.header.Kid, err)
	}
	if pub == nil {
		return Header{}, nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, p.header.Kid)
	}
	digest := sha256.Sum256([]byte(p.signingInput))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], p.signature); err != nil {
		return Header{}, nil, ErrBadSignature
	}
	return p.header, p.payload, nil
}

// ParseUnverified decodes token without checking its signature, for tools that
// show what a token claims. Nothing it returns may be trusted.
func ParseUnverified(token string) (Header, []byte, error) {
	p, err := parse(token)
	if err != nil {
		return Header{}, nil, err
	}
	return p.header, p.payload, nil
}

// HeaderOf reads only the header of token, unverified: for a holder that
// needs its kid (which key to show or check with) and not the payload.
func HeaderOf(token string) (Header, error) {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return Header{}, fmt.Errorf("%w: no payload segment", ErrMalformed)
	}
	b, err := decodeSegment(seg)
	if err != nil {
		return Header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	return parseHeader(b)
}

type parsed struct {
	header       Header
	payload      []byte
	signature    []byte
	signingInput string
}

func parse(token string) (parsed, error) {
	segs := strings.Split(token, ".")
	if len(segs) != 3 {
		return parsed{}, fmt.Errorf("%w: %d segments, want 3", ErrMalformed, len(segs))
	}
	var raw [3][]byte
	for i, name := range [3]string{"header", "payload", "signature"} {
		b, err := decodeSegment(segs[i])
		if err != nil {
			return parsed{}, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
		}
		raw[i] = b
	}
	h, err := parseHeader(raw[0])
	if err != nil {
		return parsed{}, err
	}
	return parsed{
		header:       h,
		payload:      raw[1],
		signature:    raw[2],
		signingInput: segs[0] + "." + segs[1],
	}, nil
}

// decodeSegment decodes strict unpadded base64url. The alphabet is checked by
// hand because the standard decoder silently skips CR and LF.
func decodeSegment(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("invalid base64url byte %q at %d", c, i)
		}
	}
	return b64.DecodeString(s)
}

// parseHeader reads the header through a map so that keys match exactly:
// struct decoding folds case, and {"alg":"none","ALG":"RS256"} must not be
// read differently here than by a workspace.
func parseHeader(b []byte) (Header, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return Header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	// A critical extension we do not implement must make the token invalid (RFC 7515 4.1.11).
	if _, ok := m["crit"]; ok {
		return Header{}, fmt.Errorf("%w: unsupported critical header parameters", ErrMalformed)
	}
	var h Header
	for name, dst := range map[string]*string{"alg": &h.Alg, "typ": &h.Typ, "kid": &h.Kid} {
		v, ok := m[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return Header{}, fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
		}
	}
	if h.Alg == "" {
		return Header{}, fmt.Errorf("%w: header has no alg", ErrMalformed)
	}
	return h, nil
}
