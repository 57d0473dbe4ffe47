package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Key generation is slow; tests share one key of each kind.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsa1k  = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
	ecKey  = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

func spki(t *testing.T, k any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pemOf("PUBLIC KEY", der))
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyIDRFC7638(t *testing.T) {
	t.Parallel()
	// RFC 7638 section 3.1.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := KeyID(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	k := rsaKey()
	tests := []struct {
		name string
		data []byte
	}{
		{"PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))},
		{"PKCS#8", pkcs8(t, k)},
		{"PKCS#8 after text and a certificate block", append([]byte("comment\n"+string(pemOf("CERTIFICATE", []byte{1, 2}))), pkcs8(t, k)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := LoadOrCreateFile(writeFile(t, tt.data), false)
			if err != nil {
				t.Fatal(err)
			}
			key, err := f.Active(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if key.ID != KeyID(&k.PublicKey) || key.Algorithm != AlgRS256 || !key.Public().Equal(&k.PublicKey) {
				t.Errorf("key = %+v, want the file's key", key)
			}
			if !key.NotBefore.IsZero() || !key.NotAfter.IsZero() {
				t.Errorf("file key window = %v..%v, want unbounded", key.NotBefore, key.NotAfter)
			}
			pubs, err := f.PublicKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(pubs) != 1 || pubs[0].ID != key.ID || !pubs[0].Key.Equal(&k.PublicKey) {
				t.Errorf("PublicKeys = %+v", pubs)
			}
		})
	}
}

func TestGenerateIfMissing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "license.pem")
	f, err := LoadOrCreateFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{path: 0o600, dir: 0o700 | fs.ModeDir} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s mode = %v, want %v", p, st.Mode(), want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("generated file is not PKCS#8 PEM: %.40q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key", len(entries))
	}
	if bits := f.key.Public().N.BitLen(); bits != 2048 {
		t.Errorf("generated %d-bit key, want 2048", bits)
	}
	again, err := LoadOrCreateFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if again.key.ID != f.key.ID {
		t.Errorf("reload gave kid %s, want %s", again.key.ID, f.key.ID)
	}
}

func TestGenerateConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key.pem")
	const n = 4
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := LoadOrCreateFile(path, true)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = f.key.ID
		})
	}
	wg.Wait()
	want, err := LoadOrCreateFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != want.key.ID {
			t.Errorf("starter %d got kid %s, file holds %s", i, id, want.key.ID)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	encrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"},
		Bytes:   []byte{1},
	})
	ecDER, err := x509.MarshalECPrivateKey(ecKey())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		want    error
		wantMsg string
	}{
		{"empty", nil, ErrNoPEM, "no usable PEM key block"},
		{"not PEM", []byte("hello"), ErrNoPEM, "no usable PEM key block"},
		{"public key only", []byte(spki(t, &rsaKey().PublicKey)), ErrNoPEM, `no usable PEM key block (found ["PUBLIC KEY"])`},
		{"encrypted PKCS#1", encrypted, ErrEncrypted, "encrypted"},
		{"encrypted PKCS#8", pemOf("ENCRYPTED PRIVATE KEY", []byte{1}), ErrEncrypted, "encrypted"},
		{"EC PKCS#8", pkcs8(t, ecKey()), ErrNotRSA, "not an RSA key"},
		{"EC SEC1", pemOf("EC PRIVATE KEY", ecDER), ErrNotRSA, "not an RSA key"},
		{"1024 bits", pkcs8(t, rsa1k()), ErrKeyTooSmall, "smaller than 2048 bits (got 1024)"},
		{"corrupt DER", pemOf("PRIVATE KEY", []byte{0x30, 0x01}), nil, `parse "PRIVATE KEY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tt.data)
			_, err := LoadOrCreateFile(path, true)
			if err == nil {
				t.Fatal("loaded a bad key file")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not name the path and %q", msg, tt.wantMsg)
			}
		})
	}

	t.Run("missing without generate", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "absent.pem")
		_, err := LoadOrCreateFile(path, false)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("error = %v, want not-exist naming the path", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Error("a key was created without generateIfMissing")
		}
	})
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		signer crypto.Signer
		want   error
	}{
		{"nil", nil, ErrNotRSA},
		{"EC", ecKey(), ErrNotRSA},
		{"1024 bits", rsa1k(), ErrKeyTooSmall},
		{"RSA 2048", rsaKey(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := NewKey(tt.signer)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewKey error = %v, want %v", err, tt.want)
			}
			if err == nil && (k.ID != KeyID(k.Public()) || k.Algorithm != AlgRS256) {
				t.Errorf("NewKey = %+v", k)
			}
		})
	}
}

func TestPublicKeyForms(t *testing.T) {
	t.Parallel()
	pub := &rsaKey().PublicKey
	p := PublicKeyPEM(pub)
	if !strings.HasPrefix(p, "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("PublicKeyPEM = %.40q", p)
	}
	v2 := PublicKeyV2(pub)
	if dec, err := base64.StdEncoding.DecodeString(v2); err != nil || string(dec) != p {
		t.Fatalf("PublicKeyV2 is not base64 of the PEM: %v", err)
	}
	wrapped := ""
	for i := 0; i < len(v2); i += 64 {
		wrapped += v2[i:min(i+64, len(v2))] + "\n"
	}
	pkcs1 := string(pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(pub)))

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"PEM", p, nil},
		{"PEM with spaces", "  \n" + p + "\n\t", nil},
		{"PKCS#1 PEM", pkcs1, nil},
		{"V2", v2, nil},
		{"V2 with whitespace", " " + v2 + "\n", nil},
		{"V2 wrapped", wrapped, nil},
		{"empty", "", ErrNoPEM},
		{"not base64", "not a key!", ErrNoPEM},
		{"base64 of text", base64.StdEncoding.EncodeToString([]byte("hello")), ErrNoPEM},
		{"private key", string(pkcs8(t, rsaKey())), ErrNoPEM},
		{"EC", spki(t, &ecKey().PublicKey), ErrNotRSA},
		{"1024 bits", spki(t, &rsa1k().PublicKey), ErrKeyTooSmall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePublicKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePublicKey error = %v, want %v", err, tt.want)
			}
			if err == nil && !got.Equal(pub) {
				t.Error("parsed a different key")
			}
		})
	}
	if PublicKeyPEM(nil) != "" || PublicKeyV2(nil) != "" {
		t.Error("nil key did not encode as empty")
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	pub := &rsaKey().PublicKey
	out, err := JWKS([]PublicKey{{ID: "k1", Algorithm: AlgRS256, Key: pub}, {Key: pub}})
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(out, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2: %s", len(set.Keys), out)
	}
	k := set.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k["n"])
	if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || k["kid"] != "k1" || k["e"] != "AQAB" ||
		new(big.Int).SetBytes(n).Cmp(pub.N) != 0 {
		t.Errorf("JWK = %v", k)
	}
	if set.Keys[1]["kid"] != KeyID(pub) || set.Keys[1]["alg"] != "RS256" {
		t.Errorf("defaults not applied: %v", set.Keys[1])
	}

	if out, err := JWKS(nil); err != nil || string(out) != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s, %v", out, err)
	}
	if _, err := JWKS([]PublicKey{{ID: "x"}}); err == nil {
		t.Error("JWKS accepted a nil key")
	}
}
