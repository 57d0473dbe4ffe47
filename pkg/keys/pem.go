package keys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// ParsePrivateKeyPEM parses an RSA private key from PEM, PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"). Blocks of other types, such
// as a certificate bundled with the key, are skipped. The key must be at least
// MinRSABits and pass rsa.PrivateKey.Validate.
func ParsePrivateKeyPEM(pemBytes []byte) (*rsa.PrivateKey, error) {
	var skipped []string
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, noPEM(skipped)
		}
		if _, enc := block.Headers["Proc-Type"]; enc || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, ErrEncrypted
		}
		var key any
		var err error
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
			return nil, fmt.Errorf("%w: PEM block is %q", ErrNotRSA, block.Type)
		default:
			skipped = append(skipped, block.Type)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keys: parse %q PEM block: %w", block.Type, err)
		}
		priv, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: PKCS#8 key is %T", ErrNotRSA, key)
		}
		if err := checkSize(&priv.PublicKey); err != nil {
			return nil, err
		}
		if err := priv.Validate(); err != nil {
			return nil, fmt.Errorf("keys: invalid RSA key: %w", err)
		}
		return priv, nil
	}
}

// noPEM reports that no usable block was found, naming the ones that were
// there: a public key handed over where a private key belongs is a common slip.
func noPEM(skipped []string) error {
	if len(skipped) == 0 {
		return ErrNoPEM
	}
	return fmt.Errorf("%w (found %q)", ErrNoPEM, skipped)
}

// marshalPrivateKeyPEM encodes priv as a PKCS#8 PEM, the format openssl and
// KMS import tools expect by default.
func marshalPrivateKeyPEM(priv *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicKeyPEM returns pub as an SPKI PEM ("-----BEGIN PUBLIC KEY-----"), the
// publicKey workspaces receive at registration and sync. It returns "" for a
// nil key, the only input SPKI encoding rejects.
func PublicKeyPEM(pub *rsa.PublicKey) string {
	if pub == nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PublicKeyV2 returns the standard base64 of PublicKeyPEM(pub): the value a
// workspace build reads from PUBLIC_LICENSE_KEY_V2.
func PublicKeyV2(pub *rsa.PublicKey) string {
	if pub == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(PublicKeyPEM(pub)))
}

// ParsePublicKey parses an RSA public key given as a PEM ("PUBLIC KEY" or
// "RSA PUBLIC KEY") or as the base64 of such a PEM (the PUBLIC_LICENSE_KEY_V2
// form). Surrounding whitespace is ignored, and so are line breaks inside the
// base64, since environment files often wrap long values.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	data := []byte(s)
	if !strings.HasPrefix(s, "-----BEGIN") {
		dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, fmt.Errorf("%w: neither PEM nor base64 of a PEM: %w", ErrNoPEM, err)
		}
		data = dec
	}
	var skipped []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, noPEM(skipped)
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			skipped = append(skipped, block.Type)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keys: parse %q PEM block: %w", block.Type, err)
		}
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: public key is %T", ErrNotRSA, key)
		}
		if err := checkSize(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}
