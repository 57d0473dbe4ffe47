// Package config is the registry's configuration, read once from the
// environment.
package config

import "github.com/cloudlicense/authority/pkg/app"

// Config of the registry.
type Config struct {
	app.Config
	GRPCAddr   string `env:"GRPC_ADDR, default=:7101"`
	TokensAddr string `env:"TOKENS_ADDR, required"`
}
