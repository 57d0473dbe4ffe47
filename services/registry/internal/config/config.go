// Package config is the registry's configuration, read once from the
// environment.
package config

import (
	"time"

	"github.com/cloudlicense/authority/pkg/app"
)

// Config of the registry.
type Config struct {
	app.Config
	GRPCAddr   string `env:"GRPC_ADDR, default=:7101"`
	TokensAddr string `env:"TOKENS_ADDR, required"`
	SignerAddr string `env:"SIGNER_ADDR, required"`
	// PublicURL is the gateway's base URL as workspaces see it; it builds
	// registration_client_uri in offline registrations' cloud blobs.
	PublicURL string `env:"PUBLIC_URL"`
	// IntentSecretKey is base64 of 32 bytes (AES-256-GCM): it seals the
	// device and confirmation codes and the client secret a confirmed
	// registration intent holds until the workspace first uses it. Without
	// it, registration by e-mail confirmation is refused.
	IntentSecretKey string        `env:"INTENT_SECRET_KEY"`
	IntentTTL       time.Duration `env:"INTENT_TTL, default=30m"`
	IntentInterval  time.Duration `env:"INTENT_POLL_INTERVAL, default=5s"`
	// SMTP settings of the confirmation e-mails. Without SMTP_ADDR no mail
	// is sent: the requests wait in the stream until a registry with SMTP
	// runs.
	SMTPAddr     string `env:"SMTP_ADDR"`
	SMTPFrom     string `env:"SMTP_FROM, default=licensing@localhost"`
	SMTPUsername string `env:"SMTP_USERNAME"`
	SMTPPassword string `env:"SMTP_PASSWORD"`
}
