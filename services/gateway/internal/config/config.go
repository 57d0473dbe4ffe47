// Package config is the gateway's configuration, read once from the
// environment.
package config

import "time"

// Config of the gateway.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=:8080"`
	MetricsAddr string `env:"METRICS_ADDR"`
	// Pprof serves Go's profiles under /debug/pprof/ on the metrics port.
	Pprof bool `env:"PPROF_ENABLED"`
	// PublicURL is the base URL workspaces use (their Cloud_Url); it builds
	// registration_client_uri. Empty: derived from each request's Host.
	PublicURL string `env:"PUBLIC_URL"`
	// ConsoleURL is the customers' console's base URL: registration
	// intents' e-mails link to its confirmation page. Empty: to this
	// gateway's own page.
	ConsoleURL   string `env:"CONSOLE_URL"`
	RegistryAddr string `env:"REGISTRY_ADDR, required"`
	TokensAddr   string `env:"TOKENS_ADDR, required"`
	SignerAddr   string `env:"SIGNER_ADDR, required"`
	SyncAddr     string `env:"SYNC_ADDR, required"`
	// ServiceAPIKey authenticates the gateway to the internal services.
	ServiceAPIKey string `env:"SERVICE_API_KEY, required"`
	// RateLimit is requests per second per client address on the public
	// endpoints (0 turns it off); RateBurst the bucket size.
	RateLimit float64 `env:"RATE_LIMIT_PER_SECOND, default=200"`
	RateBurst int     `env:"RATE_LIMIT_BURST, default=400"`
	// WorkspaceRateLimit is requests per second per workspace (by its access
	// token) on the workspace endpoints (0 turns it off). A workspace syncs
	// a few times an hour; the burst leaves room for an admin pressing Sync.
	WorkspaceRateLimit float64 `env:"WORKSPACE_RATE_LIMIT_PER_SECOND, default=5"`
	WorkspaceRateBurst int     `env:"WORKSPACE_RATE_LIMIT_BURST, default=30"`
	// TrustedProxies lists the addresses and CIDR prefixes of the proxies
	// whose X-Forwarded-For names the client for the per-client limit;
	// from any other peer the header is ignored.
	TrustedProxies []string      `env:"TRUSTED_PROXIES"`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES, default=1048576"`
	UpstreamWait   time.Duration `env:"UPSTREAM_TIMEOUT, default=10s"`
	// SupportedVersionsCache is how long the supported-versions document is
	// served before the signer is asked again (0: on every request).
	SupportedVersionsCache time.Duration `env:"SUPPORTED_VERSIONS_CACHE, default=60s"`
	// JWKSCache is how long the license keyset is used before the signer is
	// asked again; keep it below the signer's KEYSET_PUBLISH_LEAD.
	JWKSCache     time.Duration `env:"JWKS_CACHE, default=30s"`
	LogLevel      string        `env:"LOG_LEVEL, default=info"`
	OTLPEndpoint  string        `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	TraceFile     string        `env:"TRACE_FILE"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=10s"`
}
