// Package config is the console's configuration, read once from the
// environment.
package config

import "time"

// Config of the console.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL, required"`
	MaxDBConns  int32  `env:"DATABASE_MAX_CONNS, default=20"`
	// MigrateOnly applies the schema and exits (the deployment's migration
	// step).
	MigrateOnly bool   `env:"MIGRATE_ONLY, default=false"`
	HTTPAddr    string `env:"HTTP_ADDR, default=:8090"`
	MetricsAddr string `env:"METRICS_ADDR"`
	// PublicURL is the console's own base URL as people reach it: the
	// links in its e-mails, the Origin a form must come from, and (https)
	// whether cookies are Secure and __Host- prefixed.
	PublicURL string `env:"PUBLIC_URL, required"`
	// CloudURL is the gateway's base URL, which a workspace registering
	// online is pointed at.
	CloudURL     string `env:"CLOUD_URL, required"`
	RegistryAddr string `env:"REGISTRY_ADDR, required"`
	TokensAddr   string `env:"TOKENS_ADDR, required"`
	SignerAddr   string `env:"SIGNER_ADDR, required"`
	SyncAddr     string `env:"SYNC_ADDR, required"`
	// ServiceAPIKey authenticates the console to the internal services.
	ServiceAPIKey string        `env:"SERVICE_API_KEY, required"`
	SessionTTL    time.Duration `env:"SESSION_TTL, default=12h"`
	// Sign-in attempts that fail within SIGNIN_WINDOW: at most
	// SIGNIN_MAX_PER_ACCOUNT for one e-mail address and
	// SIGNIN_MAX_PER_ADDRESS from one client address.
	SignInWindow     time.Duration `env:"SIGNIN_WINDOW, default=15m"`
	SignInPerAccount int           `env:"SIGNIN_MAX_PER_ACCOUNT, default=5"`
	SignInPerAddress int           `env:"SIGNIN_MAX_PER_ADDRESS, default=20"`
	// ClientIPHeader names the header a trusted reverse proxy sets to the
	// client's address (X-Real-IP behind ingress-nginx). Empty: the
	// connection's address, which behind a proxy is the proxy's.
	ClientIPHeader string `env:"CLIENT_IP_HEADER"`
	// SMTP of the account e-mails (the same sender the registry uses).
	// Without SMTP_ADDR the mails wait in the queue.
	SMTPAddr      string        `env:"SMTP_ADDR"`
	SMTPFrom      string        `env:"SMTP_FROM, default=console@localhost"`
	SMTPUsername  string        `env:"SMTP_USERNAME"`
	SMTPPassword  string        `env:"SMTP_PASSWORD"`
	UpstreamWait  time.Duration `env:"UPSTREAM_TIMEOUT, default=10s"`
	LogLevel      string        `env:"LOG_LEVEL, default=info"`
	OTLPEndpoint  string        `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	TraceFile     string        `env:"TRACE_FILE"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=10s"`
}
