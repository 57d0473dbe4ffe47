// Package config is the sync service's configuration, read once from the
// environment.
package config

import (
	"time"

	"github.com/cloudlicense/authority/pkg/app"
)

// Config of the sync service.
type Config struct {
	app.Config
	GRPCAddr   string `env:"GRPC_ADDR, default=:7104"`
	SignerAddr string `env:"SIGNER_ADDR, required"`
	// TokensAddr is where callers' API keys are authenticated.
	TokensAddr string `env:"TOKENS_ADDR, required"`

	// Watch: how many changes may wait for one watcher before it is cut
	// off, how often watchers get a bookmark, how long changes are kept for
	// resuming, and how often the sequencer looks for changes to number.
	WatchBuffer           int           `env:"WATCH_BUFFER, default=1024"`
	WatchBookmarkInterval time.Duration `env:"WATCH_BOOKMARK_INTERVAL, default=30s"`
	WatchRetention        time.Duration `env:"WATCH_RETENTION, default=1h"`
	WatchSequenceInterval time.Duration `env:"WATCH_SEQUENCE_INTERVAL, default=10ms"`
}
