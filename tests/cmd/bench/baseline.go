package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serveBaseline runs a no-op server: the cheapest answer the same stack
// (net/http with a JSON body; grpc-go with a unary call) can give.
func serveBaseline(ctx context.Context, kind, addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	switch kind {
	case "noop-http":
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { <-ctx.Done(); _ = srv.Close() }()
		if err := srv.Serve(lis); err != http.ErrServerClosed {
			return err
		}
		return nil
	case "noop-grpc":
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, health.NewServer())
		go func() { <-ctx.Done(); srv.Stop() }()
		return srv.Serve(lis)
	}
	return fmt.Errorf("unknown baseline %q", kind)
}

// startBaseline runs this binary as a baseline server in its own process,
// with the kind's extra flags, and waits until it listens.
func startBaseline(ctx context.Context, kind string, extra ...string) (addr string, pid int, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-serve", kind, "-addr", addr}, extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", 0, nil, fmt.Errorf("baseline %s did not start", kind)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }
