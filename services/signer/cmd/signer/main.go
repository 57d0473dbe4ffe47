// Command signer runs the signer: plans, subscriptions and every license
// ever issued, signed with the license key.
package main

import (
	"context"
	"time"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/keys"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/signer/internal/config"
	"github.com/cloudlicense/authority/services/signer/internal/consumer"
	"github.com/cloudlicense/authority/services/signer/internal/directory"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/server"
	"github.com/cloudlicense/authority/services/signer/internal/store"
	"github.com/cloudlicense/authority/services/signer/internal/versiondoc"
)

func main() { app.Main("signer", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	km, err := keys.LoadOrCreateFile(cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}
	base, err := app.Start(ctx, "signer", cfg.Config, store.Migrations())
	if err != nil {
		return err
	}
	defer base.Close()

	tc, err := base.Dial(cfg.TokensAddr)
	if err != nil {
		return err
	}
	rc, err := base.Dial(cfg.RegistryAddr)
	if err != nil {
		return err
	}

	st := store.New(base.Pool)
	versionDoc := versiondoc.New(km, time.Now)
	iss := issuance.New(st, km, directory.NewRegistry(registryv1.NewRegistryServiceClient(rc)), issuance.WithSupportedVersions(versionDoc))
	srv := grpcserver.New(base.Log, base.RemoteAuthenticator(tokensv1.NewTokenServiceClient(tc)), server.Policy)
	signerv1.RegisterSignerServiceServer(srv.Server, server.New(st, iss, km, base.Log))
	signerv1.RegisterSubscriptionServiceServer(srv.Server, server.NewSubscriptions(iss, base.Log))
	signerv1.RegisterVersionPolicyServiceServer(srv.Server, server.NewVersionPolicy(st, base.Log, time.Now))
	return base.Run(ctx,
		base.GRPC(srv, cfg.GRPCAddr),
		base.Relay().Run,
		consumer.New(base.JS, base.Pool, iss, base.Log).Run,
		issuance.NewLoop(iss, cfg.LifecycleInterval, base.Log).Run,
		func(ctx context.Context) error { return versionDoc.Run(ctx, base.NATS) },
	)
}
