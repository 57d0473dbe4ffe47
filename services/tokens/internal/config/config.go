// Package config is the token service's configuration, read once from the
// environment.
package config

import (
	"time"

	"github.com/cloudlicense/authority/pkg/app"
)

// Config of the token service.
type Config struct {
	app.Config
	GRPCAddr string `env:"GRPC_ADDR, default=:7102"`
	// SigningKeyFile holds the RSA key that signs access tokens (PEM, PKCS#1
	// or PKCS#8).
	SigningKeyFile string `env:"TOKEN_SIGNING_KEY_FILE, required"`
	// GenerateSigningKey creates the key file when missing (development),
	// and the key-encryption key file too.
	GenerateSigningKey bool `env:"TOKEN_SIGNING_KEY_GENERATE, default=false"`
	// KeyEncryptionKeyFile seals the access-token keyset's private keys in
	// the database (base64 of 32 bytes); default: keyset.kek beside
	// SigningKeyFile, which only seeds an empty keyset.
	KeyEncryptionKeyFile string `env:"TOKEN_KEY_ENCRYPTION_KEY_FILE"`
	// KeysetPublishLead is how long a next key is published before a
	// rotation may promote it.
	KeysetPublishLead time.Duration `env:"KEYSET_PUBLISH_LEAD, default=1h"`
	// KeysetVerifyAfterRetire is how long a retired key's tokens keep
	// verifying: at least ACCESS_TOKEN_TTL.
	KeysetVerifyAfterRetire time.Duration `env:"KEYSET_VERIFY_AFTER_RETIRE, default=24h"`
	// KeysetRefresh is how often each replica reloads the keyset besides
	// hearing keyset.changed.
	KeysetRefresh  time.Duration `env:"KEYSET_REFRESH, default=30s"`
	AccessTokenTTL time.Duration `env:"ACCESS_TOKEN_TTL, default=1h"`
	// BootstrapAdminKey, when set, is kept as an admin API key, so a fresh
	// deployment has a first key to create the others with.
	BootstrapAdminKey string `env:"BOOTSTRAP_ADMIN_KEY"`
	RegistryAddr      string `env:"REGISTRY_ADDR, required"`
	SignerAddr        string `env:"SIGNER_ADDR, required"`
}
