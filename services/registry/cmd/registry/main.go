// Command registry runs the registry: customers and their workspaces.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/config"
	"github.com/cloudlicense/authority/services/registry/internal/consumer"
	"github.com/cloudlicense/authority/services/registry/internal/server"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	base, err := app.Start(ctx, "registry", cfg.Config, store.Migrations())
	if errors.Is(err, app.ErrMigrateOnly) {
		return nil
	}
	if err != nil {
		return err
	}
	defer base.Close()

	tc, err := base.Dial(cfg.TokensAddr)
	if err != nil {
		return err
	}
	defer tc.Close()
	tokens := tokensv1.NewTokenServiceClient(tc)

	st := store.New(base.Pool)
	srv := grpcserver.New(base.Log, base.RemoteAuthenticator(tokens), server.Policy)
	registryv1.RegisterRegistryServiceServer(srv.Server, server.New(st, tokens, base.Log))
	return base.Run(ctx,
		base.GRPC(srv, cfg.GRPCAddr),
		base.Relay().Run,
		consumer.New(base.JS, base.Pool, st, base.Log).Run,
	)
}
