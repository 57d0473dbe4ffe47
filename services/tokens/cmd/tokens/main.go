// Command tokens runs the token service: registration tokens, workspace
// credentials, access tokens and internal API keys.
package main

import (
	"context"
	"fmt"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/config"
	"github.com/cloudlicense/authority/services/tokens/internal/directory"
	"github.com/cloudlicense/authority/services/tokens/internal/server"
	"github.com/cloudlicense/authority/services/tokens/internal/store"
)

func main() { app.Main("tokens", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	seed, err := keys.LoadOrCreateFile(cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}
	base, err := app.Start(ctx, "tokens", cfg.Config, store.Migrations(), keyset.Migrations())
	if err != nil {
		return err
	}
	defer base.Close()
	// Access tokens are signed by a keyset like licenses are: the key file
	// seeds it, rotation makes the next keys, sealed in the database.
	sealed, err := keys.OpenSealed(cfg.KeyEncryptionKeyFile, cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}
	ks := keyset.New(base.Pool, keys.NewRing(sealed), sealed,
		keyset.Config{Purpose: "access-token", PublishLead: cfg.KeysetPublishLead, VerifyAfterRetire: cfg.KeysetVerifyAfterRetire}, base.Log)
	if err := ks.Bootstrap(ctx, seed.PrivateKey()); err != nil {
		return err
	}
	km := ks.Manager()

	st := store.New(base.Pool)
	if cfg.BootstrapAdminKey != "" {
		if err := st.EnsureAPIKey(ctx, "bootstrap-admin", "bootstrap admin", string(authn.RoleAdmin), cfg.BootstrapAdminKey); err != nil {
			return fmt.Errorf("bootstrap admin key: %w", err)
		}
	}
	dir, err := directory.Dial(base, cfg.RegistryAddr, cfg.SignerAddr)
	if err != nil {
		return err
	}

	srv := grpcserver.New(base.Log, server.LocalAuthenticator(st, cfg.ServiceAPIKey), server.Policy)
	tokensv1.RegisterTokenServiceServer(srv.Server, server.New(st, km, dir, cfg.AccessTokenTTL, base.Log))
	keysv1.RegisterKeyServiceServer(srv.Server, server.NewKeys(ks, base.Log))
	return base.Run(ctx, base.GRPC(srv, cfg.GRPCAddr), base.Relay().Run, ks.Watch(base.NATS, cfg.KeysetRefresh))
}
