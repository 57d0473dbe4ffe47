package keys

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Backend keeps the private halves of a keyset's keys. The keyset itself
// (ids, windows, states) is data its owner stores; a backend only turns a
// reference into a crypto.Signer. Sealed is the development backend; a KMS or
// HSM backend implements the same three calls, returning the remote key's
// name as the reference and a Signer that calls out to it.
type Backend interface {
	// Name is stored beside every reference, so a keyset knows which
	// backend can open each key.
	Name() string
	// Generate makes a new RSA key and returns its reference and public half.
	Generate(ctx context.Context) (ref []byte, pub *rsa.PublicKey, err error)
	// Import takes an existing private key under the backend's care.
	Import(ctx context.Context, priv *rsa.PrivateKey) (ref []byte, err error)
	// Signer opens a reference.
	Signer(ctx context.Context, ref []byte) (crypto.Signer, error)
}

// KEKSize is the size of a Sealed backend's key-encryption key (AES-256).
const KEKSize = 32

// ErrWrongKEK reports sealed material that does not open with the backend's
// key-encryption key (another deployment's key, or tampered material).
var ErrWrongKEK = errors.New("keys: sealed key does not open with this key-encryption key")

// Sealed keeps private keys as AES-256-GCM ciphertext (of their PKCS#8 DER)
// that the keyset stores as the reference: the material lives beside the
// keyset, so every replica sees a rotation at once without a shared volume,
// while backups and readers of the table hold only ciphertext. The
// key-encryption key comes from a file (a mounted secret in production).
type Sealed struct {
	aead cipher.AEAD
}

var _ Backend = (*Sealed)(nil)

// NewSealed returns a Sealed backend with the 32-byte key-encryption key kek.
func NewSealed(kek []byte) (*Sealed, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealed{aead: aead}, nil
}

// sealedAAD binds ciphertext to its purpose, so a blob sealed for something
// else under the same key cannot be passed off as a signing key.
var sealedAAD = []byte("licensing keys sealed v1")

// Name implements Backend.
func (*Sealed) Name() string { return "sealed" }

// Generate implements Backend.
func (s *Sealed) Generate(ctx context.Context) ([]byte, *rsa.PublicKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: generate: %w", err)
	}
	ref, err := s.Import(ctx, priv)
	return ref, &priv.PublicKey, err
}

// Import implements Backend.
func (s *Sealed) Import(_ context.Context, priv *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, der, sealedAAD), nil
}

// Signer implements Backend.
func (s *Sealed) Signer(_ context.Context, ref []byte) (crypto.Signer, error) {
	n := s.aead.NonceSize()
	if len(ref) < n {
		return nil, ErrWrongKEK
	}
	der, err := s.aead.Open(nil, ref[:n], ref[n:], sealedAAD)
	if err != nil {
		return nil, ErrWrongKEK
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: sealed key: %w", err)
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: sealed key is %T", ErrNotRSA, key)
	}
	priv.Precompute()
	return priv, nil
}

// LoadOrCreateKEK reads a key-encryption key file (the base64 of 32 bytes).
// When it is missing and generateIfMissing is set, a random key is written
// there with mode 0600, the same way LoadOrCreateFile writes a signing key
// (concurrent first starts agree on one).
func LoadOrCreateKEK(path string, generateIfMissing bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && generateIfMissing {
		kek := make([]byte, KEKSize)
		if _, err := rand.Read(kek); err != nil {
			return nil, err
		}
		data, err = publish(path, []byte(base64.StdEncoding.EncodeToString(kek)+"\n"))
		if err != nil {
			return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key file %s: want the base64 of %d random bytes", path, KEKSize)
	}
	return kek, nil
}

// DefaultKEKPath is where the key-encryption key lives when none is
// configured: beside the signing key file it protects the successors of.
func DefaultKEKPath(signingKeyFile string) string {
	return filepath.Join(filepath.Dir(signingKeyFile), "keyset.kek")
}

// OpenSealed opens the sealed backend under the key-encryption key at
// kekPath (empty: DefaultKEKPath beside signingKeyFile), creating the key
// there when create is set: what every service that keeps a keyset does at
// start.
func OpenSealed(kekPath, signingKeyFile string, create bool) (*Sealed, error) {
	if kekPath == "" {
		kekPath = DefaultKEKPath(signingKeyFile)
	}
	kek, err := LoadOrCreateKEK(kekPath, create)
	if err != nil {
		return nil, err
	}
	return NewSealed(kek)
}
