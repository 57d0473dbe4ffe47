package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// Key generation is slow; every test shares two keys.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func keyFuncFor(kid string, pub *rsa.PublicKey) KeyFunc {
	return func(k string) (*rsa.PublicKey, error) {
		if k != kid {
			return nil, fmt.Errorf("no key %q", k)
		}
		return pub, nil
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge builds a token from a raw header, signing it with key when key is non-nil.
func forge(t testing.TB, header, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	in := enc(header) + "." + enc(payload)
	if key == nil {
		return in + "."
	}
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestSignHeaderBytes(t *testing.T) {
	t.Parallel()
	key := testKeys()[0]
	tests := []struct {
		kid, want string
	}{
		{"k1", `{"alg":"RS256","typ":"JWT","kid":"k1"}`},
		{`a"b`, `{"alg":"RS256","typ":"JWT","kid":"a\"b"}`},
		{"", `{"alg":"RS256","typ":"JWT","kid":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.kid, func(t *testing.T) {
			t.Parallel()
			tok, err := Sign(key, tt.kid, []byte(`{"x":1}`))
			if err != nil {
				t.Fatal(err)
			}
			h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			if string(h) != tt.want {
				t.Errorf("header = %s, want %s", h, tt.want)
			}
			if strings.Contains(tok, "=") {
				t.Errorf("token has padding: %s", tok)
			}
		})
	}
}

func TestSignDeterministic(t *testing.T) {
	t.Parallel()
	key := testKeys()[0]
	a, err := Sign(key, "k", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sign(key, "k", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("PKCS#1 v1.5 signatures differ for the same input")
	}
}

// lyingSigner advertises one key and signs with another, like a misconfigured KMS.
type lyingSigner struct{ advertised, actual *rsa.PrivateKey }

func (s lyingSigner) Public() crypto.PublicKey { return &s.advertised.PublicKey }
func (s lyingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.actual.Sign(r, d, o)
}

type failingSigner struct{ *rsa.PrivateKey }

var errHSM = errors.New("hsm offline")

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, errHSM }

func TestSignErrors(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		signer crypto.Signer
		want   error
	}{
		{"nil", nil, ErrNotRSA},
		{"ecdsa", ec, ErrNotRSA},
		{"mismatched key", lyingSigner{ks[0], ks[1]}, ErrBadSignature},
		{"signer fails", failingSigner{ks[0]}, errHSM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Sign(tt.signer, "k", []byte("{}")); !errors.Is(err, tt.want) {
				t.Errorf("Sign error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	pub := &ks[0].PublicKey
	payload := `{"sub":"ws-1"}`
	good, err := Sign(ks[0], "k1", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(good, ".")
	otherKey, err := Sign(ks[1], "k1", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	errLookup := errors.New("store down")
	hmacSig := func() string {
		in := enc(`{"alg":"HS256","typ":"JWT","kid":"k1"}`) + "." + enc(payload)
		// The classic confusion attack: HMAC keyed with the public key's bytes.
		m := hmac.New(sha256.New, pub.N.Bytes())
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()

	tests := []struct {
		name   string
		token  string
		keyFor KeyFunc
		want   error
	}{
		{"valid", good, keyFuncFor("k1", pub), nil},
		{"tampered payload", segs[0] + "." + enc(`{"sub":"ws-2"}`) + "." + segs[2], keyFuncFor("k1", pub), ErrBadSignature},
		{"tampered header kid", enc(`{"alg":"RS256","typ":"JWT","kid":"k2"}`) + "." + segs[1] + "." + segs[2], keyFuncFor("k2", pub), ErrBadSignature},
		{"wrong key", otherKey, keyFuncFor("k1", pub), ErrBadSignature},
		{"unknown kid", good, keyFuncFor("k9", pub), ErrUnknownKey},
		{"lookup error wrapped", good, func(string) (*rsa.PublicKey, error) { return nil, errLookup }, errLookup},
		{"nil key", good, func(string) (*rsa.PublicKey, error) { return nil, nil }, ErrUnknownKey},
		{"nil key func", good, nil, ErrUnknownKey},
		{"alg none", forge(t, `{"alg":"none","typ":"JWT","kid":"k1"}`, payload, nil), keyFuncFor("k1", pub), ErrUnsupportedAlg},
		{"alg none signed", forge(t, `{"alg":"none","kid":"k1"}`, payload, ks[0]), keyFuncFor("k1", pub), ErrUnsupportedAlg},
		{"alg HS256", hmacSig, keyFuncFor("k1", pub), ErrUnsupportedAlg},
		{"alg lower case", forge(t, `{"alg":"rs256","kid":"k1"}`, payload, ks[0]), keyFuncFor("k1", pub), ErrUnsupportedAlg},
		{"alg case folded key", forge(t, `{"alg":"none","ALG":"RS256","kid":"k1"}`, payload, ks[0]), keyFuncFor("k1", pub), ErrUnsupportedAlg},
		{"no alg", forge(t, `{"kid":"k1"}`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"alg not string", forge(t, `{"alg":1,"kid":"k1"}`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"crit header", forge(t, `{"alg":"RS256","kid":"k1","crit":["exp"]}`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"header not object", forge(t, `[]`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"header null", forge(t, `null`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"header trailing data", forge(t, `{"alg":"RS256","kid":"k1"}}`, payload, ks[0]), keyFuncFor("k1", pub), ErrMalformed},
		{"two segments", segs[0] + "." + segs[1], keyFuncFor("k1", pub), ErrMalformed},
		{"four segments", good + ".x", keyFuncFor("k1", pub), ErrMalformed},
		{"empty", "", keyFuncFor("k1", pub), ErrMalformed},
		{"padding", good + "==", keyFuncFor("k1", pub), ErrMalformed},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good), keyFuncFor("k1", pub), ErrMalformed},
		{"newline", segs[0] + "." + segs[1][:4] + "\n" + segs[1][4:] + "." + segs[2], keyFuncFor("k1", pub), ErrMalformed},
		{"empty signature", segs[0] + "." + segs[1] + ".", keyFuncFor("k1", pub), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, got, err := Verify(tt.token, tt.keyFor)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Verify error = %v, want %v", err, tt.want)
				}
				if got != nil || h != (Header{}) {
					t.Errorf("Verify returned data with an error: %+v %q", h, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := (Header{Alg: "RS256", Typ: "JWT", Kid: "k1"}); h != want {
				t.Errorf("header = %+v, want %+v", h, want)
			}
			if string(got) != payload {
				t.Errorf("payload = %q, want %q", got, payload)
			}
		})
	}
}

func TestParseUnverified(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	tok, err := Sign(ks[1], "other", []byte("claims"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		token   string
		want    error
		wantKid string
	}{
		{"signed by anyone", tok, nil, "other"},
		{"alg none still parses", forge(t, `{"alg":"none","kid":"x"}`, "claims", nil), nil, "x"},
		{"malformed", "a.b", ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, p, err := ParseUnverified(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if err == nil && (h.Kid != tt.wantKid || string(p) != "claims") {
				t.Errorf("got %+v %q", h, p)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	key := testKeys()[0]
	good, err := Sign(key, "k1", []byte(`{"version":"3.0"}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good,
		good[:len(good)-3],
		good + ".",
		"..",
		"",
		"a.b.c",
		forge(f, `{"alg":"none"}`, "{}", nil),
		forge(f, `{"alg":"RS256","kid":"k1","crit":[]}`, "{}", key),
		forge(f, `{"alg":"RS256","kid":{"a":1}}`, "{}", key),
		enc(`{"alg":"RS256"}`) + ".." + strings.Repeat("A", 342),
	} {
		f.Add(s)
	}
	keyFor := keyFuncFor("k1", &key.PublicKey)
	f.Fuzz(func(t *testing.T, token string) {
		h, p, err := Verify(token, keyFor)
		if err == nil {
			// Only the one genuine payload can verify; anything else is a forgery.
			if h.Alg != AlgRS256 || string(p) != `{"version":"3.0"}` {
				t.Fatalf("forged token verified: %q", token)
			}
		}
		_, _, _ = ParseUnverified(token)
	})
}
