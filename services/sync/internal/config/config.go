// Package config is the sync service's configuration, read once from the
// environment.
package config

import "github.com/cloudlicense/authority/pkg/app"

// Config of the sync service.
type Config struct {
	app.Config
	GRPCAddr   string `env:"GRPC_ADDR, default=:7104"`
	SignerAddr string `env:"SIGNER_ADDR, required"`
	// TokensAddr is where callers' API keys are authenticated.
	TokensAddr string `env:"TOKENS_ADDR, required"`
}
