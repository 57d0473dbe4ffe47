// Package grpcserver builds a service's gRPC server the same way everywhere:
// OpenTelemetry stats handler, panic recovery, API-key authentication against
// the service's policy, health and reflection, and a graceful stop.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/authn"
)

// Server is a gRPC server with its health service.
type Server struct {
	*grpc.Server
	Health *health.Server
	log    *slog.Logger
}

// untraced is the option Untraced returns; New reads it, grpc ignores it.
type untraced struct {
	grpc.EmptyServerOption
	methods map[string]bool
}

// Untraced makes New leave the given methods (full names) out of tracing
// and RPC metrics: for streams that stay open for hours, whose one span
// would be held in memory for the whole stream and say nothing useful.
func Untraced(fullMethods ...string) grpc.ServerOption {
	u := untraced{methods: map[string]bool{}}
	for _, m := range fullMethods {
		u.methods[m] = true
	}
	return u
}

// New builds the server; register services on it, then Serve.
func New(log *slog.Logger, auth authn.Authenticator, policy authn.Policy, extra ...grpc.ServerOption) *Server {
	authUnary, authStream := authn.Interceptors(auth, policy)
	skip := map[string]bool{}
	for _, o := range extra {
		if u, ok := o.(untraced); ok {
			maps.Copy(skip, u.methods)
		}
	}
	opts := []grpc.ServerOption{
		grpc.StatsHandler(skipStats{inner: otelgrpc.NewServerHandler(), skip: skip}),
		grpc.ChainUnaryInterceptor(recoverUnary(log), authUnary),
		grpc.ChainStreamInterceptor(recoverStream(log), authStream),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(4 << 20),
		grpc.ForceServerCodecV2(newCodec()),
	}
	s := &Server{Server: grpc.NewServer(append(opts, extra...)...), Health: health.NewServer(), log: log}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	return s
}

// skipStats is the OpenTelemetry stats handler with the untraced methods
// left out entirely. otelgrpc's own filter still extracts the propagated
// context, builds the metric attributes and keeps them for the life of the
// RPC, and handles every message: for ten thousand watch streams, memory
// and fan-out time spent on telemetry that is never recorded.
type skipStats struct {
	inner stats.Handler
	skip  map[string]bool
}

type skippedRPC struct{}

func (s skipStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if s.skip[info.FullMethodName] {
		return context.WithValue(ctx, skippedRPC{}, true)
	}
	return s.inner.TagRPC(ctx, info)
}

func (s skipStats) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	if ctx.Value(skippedRPC{}) == nil {
		s.inner.HandleRPC(ctx, rs)
	}
}

func (s skipStats) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return s.inner.TagConn(ctx, info)
}

func (s skipStats) HandleConn(ctx context.Context, cs stats.ConnStats) { s.inner.HandleConn(ctx, cs) }

// Serve serves on lis until ctx ends, then stops gracefully (in-flight RPCs
// get up to grace to finish; streams are cut after that).
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	s.Health.Resume()
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}
	s.Health.Shutdown() // readiness goes NOT_SERVING first
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ss.Context(), "panic in stream handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// Dial opens a client connection to an internal service, presenting apiKey on
// every call and propagating trace context.
func Dial(target, apiKey string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecureCreds()),
		// Spread calls over every address the name resolves to (with a
		// headless Service and a dns:/// target, every replica).
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		grpc.WithPerRPCCredentials(authn.APIKey(apiKey)),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}
