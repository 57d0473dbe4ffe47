// Command dev runs the authority locally for `make dev`: the six services
// on their usual ports against DATABASE_URL (database "licensing", created
// when missing) and NATS_URL, with keys and the admin key kept under .dev/.
// It prints the gateway URL, the admin key, a demo registration token and
// the license public key, then runs until interrupted and stops what it
// started.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/tests/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dbURL, natsURL := os.Getenv("DATABASE_URL"), os.Getenv("NATS_URL")
	if dbURL == "" || natsURL == "" {
		return errors.New("DATABASE_URL and NATS_URL are required (make dev sets them)")
	}
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	state := filepath.Join(root, ".dev", "stack")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	dbURL, err = ensureDatabase(ctx, dbURL, "licensing")
	if err != nil {
		return err
	}
	adminKey, err := persistentSecret(filepath.Join(state, "admin.key"))
	if err != nil {
		return err
	}
	serviceKey, err := persistentSecret(filepath.Join(state, "service.key"))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "dev: building and starting the six services ...")
	s, err := stack.Start(ctx, stack.Options{
		DatabaseURL: dbURL, NATSURL: natsURL, Dir: state, AdminKey: adminKey, ServiceKey: serviceKey,
		GatewayPort: envPort("GATEWAY_PORT", 8080),
		ConsolePort: envPort("CONSOLE_PORT", 8090),
		GRPCPorts:   map[string]int{"registry": 7101, "tokens": 7102, "signer": 7103, "sync": 7104},
	})
	if err != nil {
		return err
	}
	defer s.Stop()

	token, publicKeyV2, err := demo(ctx, s)
	if err != nil {
		return err
	}
	fmt.Printf(`
The license authority is running.

  Gateway (point a workspace's Cloud URL here):  %s
  Console (customers sign up and manage workspaces): %s
  Admin API key (licensectl reads LICENSING_ADMIN_KEY): %s
  Demo registration token (single use, Starter): %s
  License public key (a workspace's PUBLIC_LICENSE_KEY_V2):
    %s
  Logs: %s/<service>.log   Stop: Ctrl-C

LICENSING_GATEWAY_URL=%s
LICENSING_CONSOLE_URL=%s
LICENSING_ADMIN_KEY=%s
LICENSING_DEMO_TOKEN=%s
LICENSING_PUBLIC_KEY_V2=%s
`, s.GatewayURL, s.ConsoleURL, adminKey, token, publicKeyV2, state, s.GatewayURL, s.ConsoleURL, adminKey, token, publicKeyV2)

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndev: stopping the services ...")
	return nil
}

// demo creates a demo customer and a single-use Starter token with licensectl.
func demo(ctx context.Context, s *stack.Stack) (token, publicKeyV2 string, err error) {
	out, errOut, err := s.Licensectl(ctx, "", "customers", "create", "-name", "Demo "+time.Now().UTC().Format("2006-01-02 15:04"), "-o", "json")
	if err != nil {
		return "", "", fmt.Errorf("create demo customer: %v: %s", err, errOut)
	}
	var cust struct {
		Customer struct{ ID string } `json:"customer"`
	}
	if err := json.Unmarshal([]byte(out), &cust); err != nil {
		return "", "", err
	}
	out, errOut, err = s.Licensectl(ctx, "", "tokens", "create", "-customer", cust.Customer.ID, "-plan", "starter", "-max-uses", "1", "-o", "json")
	if err != nil {
		return "", "", fmt.Errorf("create demo token: %v: %s", err, errOut)
	}
	var tok struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		return "", "", err
	}
	out, errOut, err = s.Licensectl(ctx, "", "keys", "public", "-v2")
	if err != nil {
		return "", "", fmt.Errorf("read the license public key: %v: %s", err, errOut)
	}
	return tok.Secret, strings.TrimSpace(out), nil
}

// ensureDatabase creates database name on the server of adminURL when
// missing and returns its URL.
func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(adminURL), err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}

// persistentSecret reads a key kept under .dev, creating it once, so the
// admin key stays the same across runs.
func persistentSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := "lak_" + base64.RawURLEncoding.EncodeToString(b)
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

func envPort(name string, def int) int {
	var p int
	if _, err := fmt.Sscanf(os.Getenv(name), "%d", &p); err == nil && p > 0 {
		return p
	}
	return def
}
