// Package stack runs the whole license authority locally: it builds the six
// services and licensectl, starts them as separate processes on loopback
// ports against a Postgres database and a NATS server, waits until every one
// is healthy, and stops them. The end-to-end tests, `make dev` and
// `make bench` all run the system through it, so they exercise the same
// binaries and configuration a deployment does.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cloudlicense/authority/pkg/client"
)

// Services in start order: the token service first, since every other
// service authenticates callers through it.
var Services = []string{"tokens", "registry", "signer", "sync", "gateway", "console"}

// httpServices serve HTTP rather than gRPC.
var httpServices = map[string]bool{"gateway": true, "console": true}

// Options configure a stack.
type Options struct {
	DatabaseURL string
	NATSURL     string
	// Dir holds keys, logs and trace files.
	Dir string
	// BinDir holds prebuilt binaries; empty: build them into Dir/bin.
	BinDir string
	// AdminKey and ServiceKey; generated when empty.
	AdminKey   string
	ServiceKey string
	// Ports; zero picks free ones.
	GatewayPort int
	ConsolePort int
	GRPCPorts   map[string]int
	// TraceFiles makes each service write its spans to Dir/<name>.traces.
	TraceFiles bool
	// Env adds variables to every service (e.g. RATE_LIMIT_PER_SECOND=0).
	Env []string
	// ConsoleConfirms makes registration intents' e-mails link to the
	// console's confirmation page (the gateway's CONSOLE_URL) rather than
	// the gateway's.
	ConsoleConfirms bool
	// LogLevel of the services (default info).
	LogLevel string
}

// Stack is a running system.
type Stack struct {
	opts       Options
	GatewayURL string
	// ConsoleURL is the customers' web console.
	ConsoleURL string
	AdminKey   string
	ServiceKey string
	// IntentKey seals the registry's registration-intent secrets
	// (INTENT_SECRET_KEY), generated per stack.
	IntentKey  string
	Addrs      map[string]string // gRPC address (or HTTP for gateway) per service
	MetricsURL map[string]string
	bins       map[string]string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	exits map[string]chan error
}

// RepoRoot finds the repository root (the folder with go.work).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		dir := filepath.Dir(file)
		for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
				return d, nil
			}
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("stack: no go.work above %s", wd)
}

// Build compiles the services and licensectl into dir.
func Build(ctx context.Context, dir string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	pkgs := []string{"./cmd/licensectl"}
	for _, s := range Services {
		pkgs = append(pkgs, "./services/"+s+"/cmd/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("stack: go build: %w\n%s", err, out)
	}
	return nil
}

// Start builds (unless BinDir is set) and starts every service, and waits
// until all are healthy.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("stack: Dir is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	binDir := opts.BinDir
	if binDir == "" {
		binDir = filepath.Join(opts.Dir, "bin")
		if err := Build(ctx, binDir); err != nil {
			return nil, err
		}
	}
	if opts.AdminKey == "" {
		opts.AdminKey = "lak_" + randomKey()
	}
	if opts.ServiceKey == "" {
		opts.ServiceKey = "lak_" + randomKey()
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	intentKey := make([]byte, 32)
	_, _ = rand.Read(intentKey)
	s := &Stack{opts: opts, AdminKey: opts.AdminKey, ServiceKey: opts.ServiceKey, IntentKey: base64.StdEncoding.EncodeToString(intentKey),
		Addrs: map[string]string{}, MetricsURL: map[string]string{},
		bins: map[string]string{}, procs: map[string]*exec.Cmd{}, exits: map[string]chan error{}}
	for _, name := range append([]string{"licensectl"}, Services...) {
		s.bins[name] = filepath.Join(binDir, name)
	}
	// Every port is picked while the others are still held, so no two
	// services are handed the same one.
	ports, err := freePorts(2 * len(Services))
	if err != nil {
		return nil, err
	}
	for i, name := range Services {
		port := opts.GRPCPorts[name]
		switch name {
		case "gateway":
			port = opts.GatewayPort
		case "console":
			port = opts.ConsolePort
		}
		if port == 0 {
			port = ports[2*i]
		}
		s.Addrs[name] = fmt.Sprintf("127.0.0.1:%d", port)
		s.MetricsURL[name] = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2*i+1])
	}
	s.GatewayURL = "http://" + s.Addrs["gateway"]
	s.ConsoleURL = "http://" + s.Addrs["console"]
	for _, name := range Services {
		if err := s.StartService(name); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if err := s.WaitHealthy(ctx, 90*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Env returns the environment of service name.
func (s *Stack) Env(name string) []string {
	o := s.opts
	env := append(os.Environ(),
		"DATABASE_URL="+o.DatabaseURL,
		"NATS_URL="+o.NATSURL,
		"SERVICE_API_KEY="+s.ServiceKey,
		"LOG_LEVEL="+o.LogLevel,
		"METRICS_ADDR="+strings.TrimSuffix(strings.TrimPrefix(s.MetricsURL[name], "http://"), "/metrics"),
		"REGISTRY_ADDR="+s.Addrs["registry"],
		"TOKENS_ADDR="+s.Addrs["tokens"],
		"SIGNER_ADDR="+s.Addrs["signer"],
		"SYNC_ADDR="+s.Addrs["sync"],
		"SHUTDOWN_GRACE=5s",
	)
	if o.TraceFiles {
		env = append(env, "TRACE_FILE="+filepath.Join(o.Dir, name+".traces"))
	}
	switch name {
	case "gateway":
		env = append(env, "HTTP_ADDR="+s.Addrs["gateway"], "PUBLIC_URL="+s.GatewayURL)
		if o.ConsoleConfirms {
			env = append(env, "CONSOLE_URL="+s.ConsoleURL)
		}
	case "console":
		env = append(env, "HTTP_ADDR="+s.Addrs["console"], "PUBLIC_URL="+s.ConsoleURL, "CLOUD_URL="+s.GatewayURL)
	case "tokens":
		env = append(env, "GRPC_ADDR="+s.Addrs[name], "BOOTSTRAP_ADMIN_KEY="+s.AdminKey,
			"TOKEN_SIGNING_KEY_FILE="+filepath.Join(o.Dir, "keys", "access-token.pem"), "TOKEN_SIGNING_KEY_GENERATE=true")
	case "registry":
		env = append(env, "GRPC_ADDR="+s.Addrs[name], "PUBLIC_URL="+s.GatewayURL, "INTENT_SECRET_KEY="+s.IntentKey)
	case "signer":
		env = append(env, "GRPC_ADDR="+s.Addrs[name],
			"LICENSE_SIGNING_KEY_FILE="+filepath.Join(o.Dir, "keys", "license.pem"), "LICENSE_SIGNING_KEY_GENERATE=true")
	default:
		env = append(env, "GRPC_ADDR="+s.Addrs[name])
	}
	return append(env, o.Env...)
}

// LogFile is where service name writes its log.
func (s *Stack) LogFile(name string) string { return filepath.Join(s.opts.Dir, name+".log") }

// TraceFile is where service name writes its spans (with TraceFiles).
func (s *Stack) TraceFile(name string) string { return filepath.Join(s.opts.Dir, name+".traces") }

// StartService starts (or restarts) one service process.
func (s *Stack) StartService(name string) error {
	logf, err := os.OpenFile(s.LogFile(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bins[name])
	cmd.Env = s.Env(name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("stack: start %s: %w", name, err)
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait(); logf.Close() }()
	s.mu.Lock()
	s.procs[name], s.exits[name] = cmd, exit
	s.mu.Unlock()
	return nil
}

// Signal sends sig to service name and, for SIGKILL or SIGTERM, waits for it
// to exit.
func (s *Stack) Signal(name string, sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exit := s.procs[name], s.exits[name]
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		select {
		case <-exit:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exit
		}
		s.mu.Lock()
		delete(s.procs, name)
		s.mu.Unlock()
	}
	return nil
}

// Stop stops every service gracefully, in reverse start order.
func (s *Stack) Stop() {
	for i := len(Services) - 1; i >= 0; i-- {
		_ = s.Signal(Services[i], syscall.SIGTERM)
	}
}

// WaitHealthy waits until every service answers its health check.
func (s *Stack) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, name := range Services {
		if err := s.waitOne(ctx, name, deadline); err != nil {
			return fmt.Errorf("stack: %s not healthy: %w\n--- %s log (end) ---\n%s", name, err, name, s.LogTail(name, 30))
		}
	}
	return nil
}

// WaitServiceHealthy waits for one service.
func (s *Stack) WaitServiceHealthy(ctx context.Context, name string, timeout time.Duration) error {
	return s.waitOne(ctx, name, time.Now().Add(timeout))
}

func (s *Stack) waitOne(ctx context.Context, name string, deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		s.mu.Lock()
		exit := s.exits[name]
		s.mu.Unlock()
		select {
		case err := <-exit:
			return fmt.Errorf("process exited: %v", err)
		default:
		}
		if last = s.healthy(ctx, name); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

func (s *Stack) healthy(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if httpServices[name] {
		conn, err := net.DialTimeout("tcp", s.Addrs[name], time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	conn, err := grpc.NewClient(s.Addrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %s", resp.GetStatus())
	}
	return nil
}

// LogTail returns the last n lines of a service's log.
func (s *Stack) LogTail(name string, n int) string {
	b, _ := os.ReadFile(s.LogFile(name))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Client returns an API client authenticated with key.
func (s *Stack) Client(key string) (*client.Client, error) {
	return client.New(client.Config{RegistryAddr: s.Addrs["registry"], TokensAddr: s.Addrs["tokens"], SignerAddr: s.Addrs["signer"], SyncAddr: s.Addrs["sync"], APIKey: key})
}

// Licensectl runs the CLI against the stack with the admin key.
func (s *Stack) Licensectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, s.bins["licensectl"], args...)
	cmd.Env = append(os.Environ(),
		"LICENSING_ADMIN_KEY="+s.AdminKey,
		"LICENSING_REGISTRY_ADDR="+s.Addrs["registry"], "LICENSING_TOKENS_ADDR="+s.Addrs["tokens"],
		"LICENSING_SIGNER_ADDR="+s.Addrs["signer"], "LICENSING_SYNC_ADDR="+s.Addrs["sync"])
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// PID returns the process id of service name, or 0 when it is not running.
func (s *Stack) PID(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cmd := s.procs[name]; cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}
