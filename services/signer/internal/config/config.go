// Package config is the signer's configuration, read once from the
// environment.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/app"
)

// Config of the signer.
type Config struct {
	app.Config
	GRPCAddr string `env:"GRPC_ADDR, default=:7103"`
	// SigningKeyFile holds the RSA key that signs licenses (PEM, PKCS#1 or
	// PKCS#8). A deployment whose workspaces already trust a key imports it
	// here; its public half is what GetLicensePublicKey prints.
	SigningKeyFile string `env:"LICENSE_SIGNING_KEY_FILE, required"`
	// GenerateSigningKey creates the key file when missing (development),
	// and the key-encryption key file too.
	GenerateSigningKey bool `env:"LICENSE_SIGNING_KEY_GENERATE, default=false"`
	// KeyEncryptionKeyFile holds the key that seals the keyset's private
	// keys in the database (base64 of 32 bytes); default: keyset.kek beside
	// SigningKeyFile. The signing key file only seeds an empty keyset: from
	// then on the keyset in the database is the truth.
	KeyEncryptionKeyFile string `env:"LICENSE_KEY_ENCRYPTION_KEY_FILE"`
	// KeysetPublishLead is how long a next key is published before a
	// rotation may promote it; it must exceed every verifier's keyset cache
	// (the gateway's JWKS_CACHE).
	KeysetPublishLead time.Duration `env:"KEYSET_PUBLISH_LEAD, default=24h"`
	// KeysetVerifyAfterRetire is how long a retired key's signatures keep
	// verifying.
	KeysetVerifyAfterRetire time.Duration `env:"KEYSET_VERIFY_AFTER_RETIRE, default=8760h"`
	// KeysetRefresh is how often each replica reloads the keyset besides
	// hearing keyset.changed.
	KeysetRefresh time.Duration `env:"KEYSET_REFRESH, default=30s"`
	// ResignBatch is how many workspaces a re-sign job visits per
	// transaction.
	ResignBatch  int    `env:"RESIGN_BATCH, default=50"`
	RegistryAddr string `env:"REGISTRY_ADDR, required"`
	// TokensAddr is where callers' API keys are checked.
	TokensAddr string `env:"TOKENS_ADDR, required"`
	// LifecycleInterval is how often the signer looks for trials and
	// periods that ended (and cancellations due at a period end).
	LifecycleInterval time.Duration `env:"LIFECYCLE_INTERVAL, default=1m"`
	// LogInterval is how often the issuance log's sequencer looks for
	// queued leaves (at once again after a full batch); a leaf waits about
	// this long for its index and proof.
	LogInterval time.Duration `env:"LOG_SEQUENCE_INTERVAL, default=200ms"`
	// LogBatch is the most leaves one signed tree head adds.
	LogBatch int `env:"LOG_BATCH_SIZE, default=1000"`
}

// Check names the variables whose values parse but cannot work.
func (c Config) Check() error {
	var bad []string
	if c.LogInterval <= 0 {
		bad = append(bad, fmt.Sprintf("LOG_SEQUENCE_INTERVAL must be positive, got %s", c.LogInterval))
	}
	if c.LogBatch < 1 || c.LogBatch > 100000 {
		bad = append(bad, fmt.Sprintf("LOG_BATCH_SIZE must be between 1 and 100000, got %d", c.LogBatch))
	}
	if len(bad) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(bad, "; "))
	}
	return nil
}
