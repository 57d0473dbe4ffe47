// Command sync runs the sync service: each workspace's sync view, the usage
// reports workspaces send, and the license updates they receive.
package main

import (
	"context"
	"maps"
	"time"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/sync/internal/config"
	"github.com/cloudlicense/authority/services/sync/internal/consumer"
	"github.com/cloudlicense/authority/services/sync/internal/server"
	"github.com/cloudlicense/authority/services/sync/internal/signer"
	"github.com/cloudlicense/authority/services/sync/internal/store"
	"github.com/cloudlicense/authority/services/sync/internal/versions"
	"github.com/cloudlicense/authority/services/sync/internal/watch"
)

func main() { app.Main("sync", realMain) }

func realMain(ctx context.Context) error {
	var cfg config.Config
	if err := app.Load(ctx, &cfg); err != nil {
		return err
	}
	base, err := app.Start(ctx, "sync", cfg.Config, store.Migrations())
	if err != nil {
		return err
	}
	defer base.Close()

	tc, err := base.Dial(cfg.TokensAddr)
	if err != nil {
		return err
	}
	sc, err := base.Dial(cfg.SignerAddr)
	if err != nil {
		return err
	}

	st := store.New(base.Pool)
	licenses := signer.New(signerv1.NewSignerServiceClient(sc), base.Log)
	policy := maps.Clone(server.Policy)
	maps.Copy(policy, server.AnnouncementPolicy)
	hub := watch.NewHub(st, watch.HubConfig{Buffer: cfg.WatchBuffer, Bookmark: cfg.WatchBookmarkInterval}, base.Log)
	if _, err := watch.Listen(base.NATS, hub); err != nil {
		return err
	}
	sequencer := watch.NewSequencer(base.Pool, st, base.NATS, hub,
		watch.SequencerConfig{Interval: cfg.WatchSequenceInterval, Retention: cfg.WatchRetention}, base.Log)
	// A watch stream stays open for hours: no span or RPC metrics for it.
	srv := grpcserver.New(base.Log, base.RemoteAuthenticator(tokensv1.NewTokenServiceClient(tc)), policy,
		grpcserver.Untraced(syncv1.SyncService_Watch_FullMethodName))
	// The gate's own connection: its loads start with the process and retry
	// while the signer is not up yet, which must not put the license calls'
	// connection into its reconnect backoff.
	vc, err := base.Dial(cfg.SignerAddr)
	if err != nil {
		return err
	}
	gate := versions.New(signerv1.NewVersionPolicyServiceClient(vc), base.NATS, base.Log, time.Now)
	syncv1.RegisterSyncServiceServer(srv.Server, server.New(st, licenses, base.Log, server.WithHub(hub), server.WithVersionGate(gate)))
	syncv1.RegisterAnnouncementServiceServer(srv.Server, server.NewAnnouncements(st, base.Log))
	return base.Run(ctx,
		base.GRPC(srv, cfg.GRPCAddr),
		base.Relay().Run,
		hub.Run,
		sequencer.Run,
		consumer.New(base.JS, base.Pool, st, base.Log).Run,
		consumer.NewWorkspaces(base.JS, base.Pool, st, base.Log).Run,
		gate.Run,
	)
}
