package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a Manager backed by one RSA private key in a PEM file. Its key is
// always active, with an unbounded window.
type File struct {
	path string
	key  Key
}

var _ Manager = (*File)(nil)

// LoadOrCreateFile loads the RSA private key PEM (PKCS#1 or PKCS#8) at path.
// When the file does not exist and generateIfMissing is set, it generates an
// RSA 2048 key and writes it there as PKCS#8 with mode 0600 (creating the
// parent directory with mode 0700). Every error names the path.
func LoadOrCreateFile(path string, generateIfMissing bool) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && generateIfMissing {
		data, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	priv, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	key, err := NewKey(priv)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return &File{path: path, key: key}, nil
}

// create generates a key and publishes it at path atomically, returning the
// PEM now at path. It never replaces an existing file: if another process
// created the key first, that key wins and is returned, so concurrent first
// starts agree on one key.
func create(path string) ([]byte, error) {
	priv, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	data, err := marshalPrivateKeyPEM(priv)
	if err != nil {
		return nil, err
	}
	return publish(path, data)
}

// publish writes data to path atomically with mode 0600, returning what is
// at path afterwards.
func publish(path string, data []byte) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	// CreateTemp opens with mode 0600, so the key is never readable by others,
	// not even for the moment before it is complete.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create temporary key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write temporary key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sync temporary key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("close temporary key file: %w", err)
	}
	// A hard link publishes the complete file without replacing a key another
	// process may have written meanwhile; rename is the fallback for
	// filesystems without hard links.
	switch err := os.Link(tmp.Name(), path); {
	case errors.Is(err, fs.ErrExist):
		return os.ReadFile(path)
	case err != nil:
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("publish key file: %w", err)
		}
	}
	syncDir(dir)
	return data, nil
}

// syncDir makes the new directory entry durable. It is best effort: some
// platforms cannot fsync a directory, and the key file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Path returns the key file's path.
func (f *File) Path() string { return f.path }

// Active returns the file's key.
func (f *File) Active(context.Context) (Key, error) { return f.key, nil }

// PublicKeys returns the public half of the file's key.
func (f *File) PublicKeys(context.Context) ([]PublicKey, error) {
	return []PublicKey{{ID: f.key.ID, Algorithm: f.key.Algorithm, Key: f.key.Public()}}, nil
}

// PrivateKey returns the file's key, for importing it into a keyset.
func (f *File) PrivateKey() *rsa.PrivateKey {
	priv, _ := f.key.Signer.(*rsa.PrivateKey)
	return priv
}
