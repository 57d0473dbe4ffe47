// Command registry runs the registry: customers and their workspaces.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	sendmail "github.com/cloudlicense/authority/pkg/mail"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/config"
	"github.com/cloudlicense/authority/services/registry/internal/consumer"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/mailer"
	"github.com/cloudlicense/authority/services/registry/internal/server"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

func main() { app.Main("registry", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	base, err := app.Start(ctx, "registry", cfg.Config, store.Migrations())
	if err != nil {
		return err
	}
	defer base.Close()

	tc, err := base.Dial(cfg.TokensAddr)
	if err != nil {
		return err
	}
	tokens := tokensv1.NewTokenServiceClient(tc)

	sc, err := base.Dial(cfg.SignerAddr)
	if err != nil {
		return err
	}

	var sealer *domain.Sealer
	if cfg.IntentSecretKey != "" {
		if sealer, err = domain.NewSealer(cfg.IntentSecretKey); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	} else {
		base.Log.ErrorContext(ctx, "INTENT_SECRET_KEY is not set: registration by e-mail confirmation is refused")
	}

	st := store.New(base.Pool)
	srv := grpcserver.New(base.Log, base.RemoteAuthenticator(tokens), server.Policy)
	registryv1.RegisterRegistryServiceServer(srv.Server, server.New(st, tokens, base.Log, server.Options{
		Signer: signerv1.NewSignerServiceClient(sc), Versions: signerv1.NewVersionPolicyServiceClient(sc), Sealer: sealer,
		IntentTTL: cfg.IntentTTL, PollInterval: cfg.IntentInterval, PublicURL: cfg.PublicURL,
	}))
	runners := []func(context.Context) error{
		base.GRPC(srv, cfg.GRPCAddr),
		base.Relay().Run,
		consumer.New(base.JS, base.Pool, st, base.Log).Run,
		server.Janitor(st, base.Log, time.Minute),
	}
	switch {
	case cfg.SMTPAddr == "":
		base.Log.WarnContext(ctx, "SMTP_ADDR is not set: confirmation e-mails wait until a registry with SMTP runs")
	case sealer != nil:
		sender, err := sendmail.NewSMTPSender(sendmail.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword})
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		runners = append(runners, mailer.New(base.JS, base.Pool, st, sealer, sender, base.Log).Run)
	}
	return base.Run(ctx, runners...)
}
