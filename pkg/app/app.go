// Package app is the lifecycle every service process shares: read the common
// configuration from the environment, set up telemetry, open the service's
// Postgres schema and migrate it, connect to NATS and declare the stream, then
// run the service's loops and servers until SIGTERM and stop them in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/telemetry"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// Config is what every service reads from the environment.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL, required"`
	NATSURL     string `env:"NATS_URL, required"`
	// StreamReplicas is the JetStream replication of the licensing stream (3
	// in a production cluster).
	StreamReplicas int    `env:"NATS_STREAM_REPLICAS, default=1"`
	MetricsAddr    string `env:"METRICS_ADDR"`
	// Pprof serves Go's profiles under /debug/pprof/ on the metrics port.
	Pprof        bool   `env:"PPROF_ENABLED"`
	LogLevel     string `env:"LOG_LEVEL, default=info"`
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	TraceFile    string `env:"TRACE_FILE"`
	// ServiceAPIKey is the key services present to each other (role service).
	ServiceAPIKey string `env:"SERVICE_API_KEY, required"`
	// ShutdownGrace bounds how long in-flight work may take after SIGTERM.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=10s"`
	MaxDBConns    int32         `env:"DATABASE_MAX_CONNS, default=20"`
	// MigrateOnly makes Start apply the schema and stop: the deployment's
	// migration step runs each service this way before rolling it out.
	MigrateOnly bool `env:"MIGRATE_ONLY, default=false"`
}

// ErrMigrateOnly is returned by Start after migrating when MIGRATE_ONLY is set.
var ErrMigrateOnly = errors.New("migrated; MIGRATE_ONLY is set")

// Load fills cfg (a struct embedding Config or any envconfig struct) from the
// environment. A missing variable is reported with every other missing one,
// so a deployment is fixed in one pass; a malformed one names itself.
func Load(ctx context.Context, cfg any) error {
	if missing := missingRequired(reflect.TypeOf(cfg)); len(missing) > 0 {
		return fmt.Errorf("configuration: missing required environment variables: %s", strings.Join(missing, ", "))
	}
	if err := envconfig.Process(ctx, cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// missingRequired lists the variables tagged `env:"NAME, required"` in t (and
// the structs it embeds) that are unset or empty.
func missingRequired(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var missing []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			if f.Type.Kind() == reflect.Struct {
				missing = append(missing, missingRequired(f.Type)...)
			}
			continue
		}
		parts := strings.Split(tag, ",")
		name := strings.TrimSpace(parts[0])
		for _, opt := range parts[1:] {
			if strings.TrimSpace(opt) == "required" && os.Getenv(name) == "" {
				missing = append(missing, name)
			}
		}
	}
	return missing
}

// Base holds the shared dependencies of a running service.
type Base struct {
	Name      string
	Config    Config
	Log       *slog.Logger
	Telemetry *telemetry.Telemetry
	Pool      *pgxpool.Pool
	NATS      *nats.Conn
	JS        jetstream.JetStream

	conns []*grpc.ClientConn
}

// Start builds the shared dependencies: telemetry, the Postgres pool on the
// service's schema with its migrations (and the outbox and inbox tables), the
// NATS connection and the licensing stream. shared are tables a pkg library
// keeps in the service's schema (the signing keyset), applied before the
// service's own migrations, which may refer to them.
func Start(ctx context.Context, name string, cfg Config, migrations fs.FS, shared ...pgdb.Source) (*Base, error) {
	tel, err := telemetry.Setup(ctx, telemetry.Config{Service: name, OTLPEndpoint: cfg.OTLPEndpoint, TraceFile: cfg.TraceFile, LogLevel: cfg.LogLevel})
	if err != nil {
		return nil, err
	}
	b := &Base{Name: name, Config: cfg, Log: tel.Logger, Telemetry: tel}
	b.Pool, err = pgdb.Open(ctx, cfg.DatabaseURL, name, cfg.MaxDBConns)
	if err != nil {
		return nil, err
	}
	sources := append([]pgdb.Source{
		{Name: "outbox", FS: outbox.Migrations()},
		{Name: "inbox", FS: events.InboxMigrations()},
	}, shared...)
	if err := pgdb.Migrate(ctx, b.Pool, name, append(sources, pgdb.Source{Name: name, FS: migrations})...); err != nil {
		b.Pool.Close()
		return nil, err
	}
	if cfg.MigrateOnly {
		b.Log.InfoContext(ctx, "migrations applied", "schema", name)
		b.Pool.Close()
		return nil, ErrMigrateOnly
	}
	b.NATS, err = events.Connect(cfg.NATSURL, name)
	if err != nil {
		b.Pool.Close()
		return nil, err
	}
	b.JS, err = jetstream.New(b.NATS)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	declareCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(declareCtx, b.JS, events.StreamConfig{Replicas: cfg.StreamReplicas}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close releases the connections.
func (b *Base) Close() {
	for _, c := range b.conns {
		_ = c.Close()
	}
	if b.NATS != nil {
		_ = b.NATS.Drain()
	}
	if b.Pool != nil {
		b.Pool.Close()
	}
	if b.Telemetry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Telemetry.Shutdown(ctx)
	}
}

// Relay returns the outbox relay of this service's schema.
func (b *Base) Relay() *outbox.Relay { return outbox.NewRelay(b.Pool, b.Name, b.JS, b.Log) }

// Run runs every loop until ctx ends or one fails, then waits for all. The
// metrics server runs beside them when METRICS_ADDR is set.
func (b *Base) Run(ctx context.Context, loops ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	if b.Config.MetricsAddr != "" {
		g.Go(func() error { return b.serveMetrics(ctx) })
	}
	for _, loop := range loops {
		g.Go(func() error { return loop(ctx) })
	}
	return g.Wait()
}

func (b *Base) serveMetrics(ctx context.Context) error {
	return ServeHTTP(ctx, b.Config.MetricsAddr, MetricsMux(b.Telemetry, b.Config.Pprof), b.Config.ShutdownGrace)
}

// MetricsMux serves the internal metrics port: /metrics, and with pprof
// Go's profiles under /debug/pprof/. Profiles belong on this port, never
// the public one: they reveal timings and memory, so they are off unless
// asked for.
func MetricsMux(tel *telemetry.Telemetry, pprofOn bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	if pprofOn {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ServeHTTP serves h on addr until ctx ends, then shuts down gracefully.
func ServeHTTP(ctx context.Context, addr string, h http.Handler, grace time.Duration) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeHTTPListener(ctx, lis, h, grace)
}

// ServeHTTPListener is ServeHTTP on an open listener.
func ServeHTTPListener(ctx context.Context, lis net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// GRPC returns a loop serving srv on addr until ctx ends.
func (b *Base) GRPC(srv *grpcserver.Server, addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		b.Log.InfoContext(ctx, "serving gRPC", "addr", lis.Addr().String())
		return srv.Serve(ctx, lis, b.Config.ShutdownGrace)
	}
}

// RemoteAuthenticator authenticates callers through the token service at
// tokensAddr, recognising this deployment's service key locally.
func (b *Base) RemoteAuthenticator(tokens tokensv1.TokenServiceClient) authn.Authenticator {
	return authn.NewRemote(b.Config.ServiceAPIKey, func(ctx context.Context, key string) (authn.Principal, error) {
		resp, err := tokens.AuthenticateAPIKey(ctx, &tokensv1.AuthenticateAPIKeyRequest{Key: key})
		if rpcerr.Code(err) == codes.Unauthenticated {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		if err != nil {
			return authn.Principal{}, err
		}
		return authn.Principal{KeyID: resp.GetKeyId(), Name: resp.GetName(), Role: authn.Role(resp.GetRole())}, nil
	})
}

// Dial connects to another service with this service's key. The
// connection is closed by Close, after the servers that use it have stopped.
func (b *Base) Dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpcserver.Dial(addr, b.Config.ServiceAPIKey)
	if err == nil {
		b.conns = append(b.conns, conn)
	}
	return conn, err
}

// Main runs a service: run gets a context that ends on SIGINT or SIGTERM; an
// error is printed and exits 1. A MIGRATE_ONLY run that migrated exits 0.
func Main(name string, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil && !errors.Is(err, ErrMigrateOnly) {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
