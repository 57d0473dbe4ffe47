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
	// GenerateSigningKey creates the key file when missing (development).
	GenerateSigningKey bool   `env:"LICENSE_SIGNING_KEY_GENERATE, default=false"`
	RegistryAddr       string `env:"REGISTRY_ADDR, required"`
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
