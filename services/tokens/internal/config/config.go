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
	// GenerateSigningKey creates the key file when missing (development).
	GenerateSigningKey bool          `env:"TOKEN_SIGNING_KEY_GENERATE, default=false"`
	AccessTokenTTL     time.Duration `env:"ACCESS_TOKEN_TTL, default=1h"`
	// BootstrapAdminKey, when set, is kept as an admin API key, so a fresh
	// deployment has a first key to create the others with.
	BootstrapAdminKey string `env:"BOOTSTRAP_ADMIN_KEY"`
	RegistryAddr      string `env:"REGISTRY_ADDR, required"`
	SignerAddr        string `env:"SIGNER_ADDR, required"`
}
