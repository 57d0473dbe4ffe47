// Command signer runs the signer: plans, subscriptions and every license
// ever issued, signed with the license key.
package main

import (
	"context"
	"maps"
	"time"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/signer/internal/config"
	"github.com/cloudlicense/authority/services/signer/internal/consumer"
	"github.com/cloudlicense/authority/services/signer/internal/directory"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/logserver"
	"github.com/cloudlicense/authority/services/signer/internal/resign"
	"github.com/cloudlicense/authority/services/signer/internal/server"
	"github.com/cloudlicense/authority/services/signer/internal/store"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
	"github.com/cloudlicense/authority/services/signer/internal/versiondoc"
)

func main() { app.Main("signer", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	seed, err := keys.LoadOrCreateFile(cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}
	base, err := app.Start(ctx, "signer", cfg.Config, store.Migrations(), keyset.Migrations())
	if err != nil {
		return err
	}
	defer base.Close()
	// The key-encryption key is read after migrating, so the migration step
	// needs no access to it.
	sealed, err := keys.OpenSealed(cfg.KeyEncryptionKeyFile, cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}

	tc, err := base.Dial(cfg.TokensAddr)
	if err != nil {
		return err
	}
	rc, err := base.Dial(cfg.RegistryAddr)
	if err != nil {
		return err
	}

	st := store.New(base.Pool)
	// Every change of the keyset is an entry of the issuance log, written
	// in the change's own transaction.
	ks := keyset.New(base.Pool, keys.NewRing(sealed), sealed,
		keyset.Config{Purpose: "license", PublishLead: cfg.KeysetPublishLead, VerifyAfterRetire: cfg.KeysetVerifyAfterRetire}, base.Log,
		keyset.WithHook(translog.KeysetHook))
	if err := ks.Bootstrap(ctx, seed.PrivateKey()); err != nil {
		return err
	}
	km := ks.Manager()
	if _, err := translog.LogKeyset(ctx, base.Pool, km); err != nil {
		return err
	}
	versionDoc := versiondoc.New(km, time.Now)
	iss := issuance.New(st, km, directory.NewRegistry(registryv1.NewRegistryServiceClient(rc)), issuance.WithSupportedVersions(versionDoc))
	resigner := resign.New(st, km, iss, cfg.ResignBatch, cfg.KeysetRefresh, base.Log)
	policy := maps.Clone(server.Policy)
	maps.Copy(policy, logserver.Policy)
	srv := grpcserver.New(base.Log, base.RemoteAuthenticator(tokensv1.NewTokenServiceClient(tc)), policy)
	signerv1.RegisterSignerServiceServer(srv.Server, server.New(st, iss, km, base.Log))
	signerv1.RegisterSubscriptionServiceServer(srv.Server, server.NewSubscriptions(iss, base.Log))
	signerv1.RegisterVersionPolicyServiceServer(srv.Server, server.NewVersionPolicy(st, base.Log, time.Now))
	keysv1.RegisterKeyServiceServer(srv.Server, server.NewKeys(st, ks, resigner, base.Log))
	logv1.RegisterLogServiceServer(srv.Server, logserver.New(translog.NewStore(base.Pool), base.Log))
	return base.Run(ctx,
		base.GRPC(srv, cfg.GRPCAddr),
		base.Relay().Run,
		consumer.New(base.JS, base.Pool, iss, base.Log).Run,
		issuance.NewLoop(iss, cfg.LifecycleInterval, base.Log).Run,
		translog.NewSequencer(base.Pool, km, cfg.LogBatch, cfg.LogInterval, base.Log).Run,
		func(ctx context.Context) error { return versionDoc.Run(ctx, base.NATS) },
		ks.Watch(base.NATS, cfg.KeysetRefresh),
		resigner.Run,
	)
}
