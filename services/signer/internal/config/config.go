// Package config is the signer's configuration, read once from the
// environment.
package config

import (
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
}
