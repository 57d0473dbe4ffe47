// Package e2e drives the whole authority over real sockets: the five
// services as separate processes on loopback, a real Postgres database and a
// real NATS server, with licensectl and a stock-workspace client as callers.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/tests/stack"
)

// binDir holds the binaries built once for every test of the package.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = os.Getenv("BIN_DIR")
	if binDir == "" {
		binDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := stack.Build(ctx, binDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// system is one running authority for a test.
type system struct {
	*stack.Stack
	DatabaseURL string
	NATS        *testenv.NATS
}

// startSystem starts a stack on a fresh database and its own NATS server.
func startSystem(t *testing.T, traces bool, env ...string) *system {
	t.Helper()
	dbURL := testenv.NewDatabase(t)
	nats := testenv.StartNATS(t)
	dir := t.TempDir()
	if a := os.Getenv("E2E_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, t.Name())
		_ = os.MkdirAll(dir, 0o700)
	}
	s, err := stack.Start(t.Context(), stack.Options{
		DatabaseURL: dbURL, NATSURL: nats.URL, Dir: dir, BinDir: binDir, TraceFiles: traces,
		Env: append([]string{"RATE_LIMIT_PER_SECOND=0", "WORKSPACE_RATE_LIMIT_PER_SECOND=0"}, env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			for _, name := range stack.Services {
				t.Logf("--- %s log (end) ---\n%s", name, s.LogTail(name, 40))
			}
		}
	})
	return &system{Stack: s, DatabaseURL: dbURL, NATS: nats}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}
