// Command gateway serves the public workspace protocol over HTTP and calls
// the internal services over gRPC.
package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/telemetry"
	"github.com/cloudlicense/authority/services/gateway/internal/config"
	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
	"github.com/cloudlicense/authority/services/gateway/internal/upstream"
)

func main() { app.Main("gateway", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{Service: "gateway", OTLPEndpoint: cfg.OTLPEndpoint, TraceFile: cfg.TraceFile, LogLevel: cfg.LogLevel})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()

	up, err := upstream.Dial(client.Config{RegistryAddr: cfg.RegistryAddr, TokensAddr: cfg.TokensAddr, SignerAddr: cfg.SignerAddr, SyncAddr: cfg.SyncAddr, APIKey: cfg.ServiceAPIKey})
	if err != nil {
		return err
	}
	defer up.Close()
	up.KeysetTTL = cfg.JWKSCache

	proxies, err := httpapi.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	api := httpapi.New(up, tel.Logger, httpapi.Options{
		PublicURL: cfg.PublicURL, ConsoleURL: cfg.ConsoleURL, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		WorkspaceRateLimit: cfg.WorkspaceRateLimit, WorkspaceRateBurst: cfg.WorkspaceRateBurst, TrustedProxies: proxies,
		MaxBodyBytes: cfg.MaxBodyBytes, UpstreamWait: cfg.UpstreamWait, VersionsCacheTTL: cfg.SupportedVersionsCache,
	})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		tel.Logger.InfoContext(ctx, "serving HTTP", "addr", cfg.HTTPAddr)
		return app.ServeHTTP(ctx, cfg.HTTPAddr, api.Handler(), cfg.ShutdownGrace)
	})
	if cfg.MetricsAddr != "" {
		g.Go(func() error {
			return app.ServeHTTP(ctx, cfg.MetricsAddr, app.MetricsMux(tel, cfg.Pprof), cfg.ShutdownGrace)
		})
	}
	return g.Wait()
}
