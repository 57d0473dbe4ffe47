// Command console serves the customers' web console: accounts and their
// organizations in its own schema, everything about workspaces through the
// internal gRPC APIs.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/telemetry"
	"github.com/cloudlicense/authority/services/console/internal/config"
	"github.com/cloudlicense/authority/services/console/internal/mailer"
	"github.com/cloudlicense/authority/services/console/internal/store"
	"github.com/cloudlicense/authority/services/console/internal/web"
)

func main() { app.Main("console", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{Service: "console", OTLPEndpoint: cfg.OTLPEndpoint, TraceFile: cfg.TraceFile, LogLevel: cfg.LogLevel})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	log := tel.Logger

	// The console needs no events, so it skips app.Start's NATS and
	// outbox: only its schema.
	pool, err := pgdb.Open(ctx, cfg.DatabaseURL, "console", cfg.MaxDBConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pgdb.Migrate(ctx, pool, "console", pgdb.Source{Name: "console", FS: store.Migrations()}); err != nil {
		return err
	}
	if cfg.MigrateOnly {
		log.InfoContext(ctx, "migrations applied", "schema", "console")
		return app.ErrMigrateOnly
	}

	api, err := client.New(client.Config{RegistryAddr: cfg.RegistryAddr, TokensAddr: cfg.TokensAddr, SignerAddr: cfg.SignerAddr, SyncAddr: cfg.SyncAddr, APIKey: cfg.ServiceAPIKey})
	if err != nil {
		return err
	}
	defer api.Close()

	st := store.New(pool, cfg.PublicURL)
	wake := make(chan struct{}, 1)
	pages, err := web.New(st, api, log, web.Options{
		PublicURL: cfg.PublicURL, CloudURL: cfg.CloudURL, SessionTTL: cfg.SessionTTL,
		SignInWindow: cfg.SignInWindow, SignInPerAccount: cfg.SignInPerAccount, SignInPerAddress: cfg.SignInPerAddress,
		ClientIPHeader: cfg.ClientIPHeader,
		UpstreamWait:   cfg.UpstreamWait, MailQueued: wake,
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		log.InfoContext(ctx, "serving HTTP", "addr", cfg.HTTPAddr)
		return app.ServeHTTP(ctx, cfg.HTTPAddr, otelhttp.NewHandler(pages.Handler(), "console"), cfg.ShutdownGrace)
	})
	if cfg.SMTPAddr == "" {
		log.WarnContext(ctx, "SMTP_ADDR is not set: account e-mails wait in the queue until a console with SMTP runs")
	} else {
		sender, err := mail.NewSMTPSender(mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword})
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		g.Go(func() error { return mailer.Loop(st, sender, log, wake, 5*time.Second)(ctx) })
	}
	if cfg.MetricsAddr != "" {
		g.Go(func() error {
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", tel.MetricsHandler())
			return app.ServeHTTP(ctx, cfg.MetricsAddr, mux, cfg.ShutdownGrace)
		})
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
