package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/tests/load"
	"github.com/cloudlicense/authority/tests/stack"
	"github.com/cloudlicense/authority/tests/workspace"
)

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	natsURL, natsPID, stopNATS, err := startNATS(ctx, dir)
	if err != nil {
		return err
	}
	defer stopNATS()
	dbURL, dropDB, err := freshDatabase(ctx)
	if err != nil {
		return err
	}
	defer dropDB()

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: o.workers * 2, MaxIdleConnsPerHost: o.workers * 2, IdleConnTimeout: time.Minute}}
	var results []figure

	var noopHTTP *load.Result
	var noopHTTPCPU time.Duration
	if o.wants("noop") {
		baselines, httpCPU, err := noopBaselines(ctx, o, client)
		if err != nil {
			return err
		}
		results = append(results, baselines...)
		noopHTTP, noopHTTPCPU = &baselines[0].res, httpCPU
	}

	fmt.Fprintln(os.Stderr, "bench: building and starting the services ...")
	s, err := stack.Start(ctx, stack.Options{
		DatabaseURL: idleConnsClose(dbURL), NATSURL: natsURL, Dir: dir, LogLevel: "warn",
		Env: []string{"RATE_LIMIT_PER_SECOND=0", "WORKSPACE_RATE_LIMIT_PER_SECOND=0", "DATABASE_MAX_CONNS=32"},
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	rss, err := idleMemory(s)
	if err != nil {
		return err
	}
	admin, err := s.Client(s.AdminKey)
	if err != nil {
		return err
	}
	defer admin.Close()
	cust, err := admin.Registry.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: "Bench"})
	if err != nil {
		return err
	}
	// Each client registers with a multi-use token of its own share of the
	// -tokens tokens (an operator rolling out a fleet uses one token for
	// many workspaces).
	secrets := make([]string, max(o.tokens, 1))
	for i := range secrets {
		tok, err := admin.Tokens.CreateRegistrationToken(ctx, &tokensv1.CreateRegistrationTokenRequest{CustomerId: cust.GetCustomer().GetId(), MaxUses: 100000, TtlSeconds: 86400})
		if err != nil {
			return err
		}
		secrets[i] = tok.GetSecret()
	}

	ws := workspace.New(s.GatewayURL)
	ws.HTTP = client
	var registered atomic.Int64
	creds := make([][]workspace.Credentials, o.workers)
	reg := load.Run(ctx, "registration", o.workers, o.duration, func(ctx context.Context, w, _ int) error {
		c, err := ws.Register(ctx, secrets[w%len(secrets)], "bench@bench.test", "bench")
		if err == nil {
			creds[w] = append(creds[w], c)
			registered.Add(1)
		}
		return err
	})
	results = append(results, figure{res: reg, baseline: noopHTTP})

	// Sync: workspaces with access tokens and their address-bound license,
	// syncing round-robin.
	type member struct {
		id, token string
		body      []byte
	}
	var members []member
	for _, cs := range creds {
		for _, c := range cs {
			if len(members) == o.workspaces {
				break
			}
			at, err := ws.Token(ctx, c.ClientID, c.ClientSecret, "")
			if err != nil {
				return fmt.Errorf("access token: %w", err)
			}
			data := workspace.RegistrationData{UniqueID: "u-" + c.WorkspaceID, Address: c.WorkspaceID + ".bench.test", Version: "7.2.1", Seats: 10, MAC: 1}
			if _, err := ws.Sync(ctx, c.WorkspaceID, at.AccessToken, data); err != nil {
				return fmt.Errorf("warm-up sync: %w", err)
			}
			body, _ := json.Marshal(data)
			members = append(members, member{c.WorkspaceID, at.AccessToken, body})
		}
	}
	if len(members) == 0 {
		return fmt.Errorf("no workspace registered (first error: %v)", reg.FirstErr)
	}
	// Registrations leave work behind (a signed license and a sync view per
	// workspace); let it finish so the sync figure measures syncs alone.
	if err := quiesce(ctx, dbURL, registered.Load()); err != nil {
		return err
	}
	meterDB, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer meterDB.Close(context.WithoutCancel(ctx))
	meter := &cpuMeter{s: s, natsPID: natsPID, db: meterDB}
	if o.wants("sync") {
		before, err := meter.sample(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: sync over %d workspaces ...\n", len(members))
		syncRes := load.Run(ctx, "sync", o.workers, o.duration, func(ctx context.Context, w, i int) error {
			m := members[(w*7919+i)%len(members)]
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.GatewayURL+"/api/v2/workspaces/"+m.id+"/sync", bytes.NewReader(m.body))
			req.Header.Set("Authorization", "Bearer "+m.token)
			req.Header.Set("Content-Type", "application/json")
			return do(client, req)
		})
		// Syncs leave events behind (usage reported to the registry): their
		// relaying counts too.
		if err := quiesce(ctx, dbURL, 0); err != nil {
			return err
		}
		after, err := meter.sample(ctx)
		if err != nil {
			return err
		}
		results = append(results, figure{res: syncRes, baseline: noopHTTP})
		if noopHTTPCPU > 0 {
			reportCPU(os.Stdout, "sync", after.since(before), syncRes.Ops, noopHTTPCPU, "noop_http", "one no-op HTTP request")
		}
	}

	var issuance []figure
	if o.wants("issuance") || o.wants("log") {
		if issuance, err = issuanceFigures(ctx, o, admin, dbURL, dir, creds, meter); err != nil {
			return err
		}
		results = append(results, issuance...)
	}

	var fan []fanout
	if o.wants("watch") && o.watchers > 0 {
		key, err := admin.Tokens.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "bench-operator", Role: "operator-read"})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %d watchers ...\n", o.watchers)
		if fan, err = watchFigures(ctx, o.watchers, s.Addrs["sync"], s.PID("sync"), key.GetKey(), dbURL, members[0].id); err != nil {
			return err
		}
	}

	report(os.Stdout, o, results)
	reportMemory(os.Stdout, rss)
	if len(fan) == 2 {
		reportWatch(os.Stdout, o.watchers, fan[0], fan[1])
	}
	if !o.wants("log") {
		return nil
	}
	// The log's append rate is compared with the issuance rate it must keep
	// up with.
	return logFigures(ctx, os.Stdout, o, admin, dbURL, issuance[len(issuance)-1].res)
}

// noopBaselines measures the no-op HTTP handler and the no-op gRPC call,
// each in its own process, driven exactly like the system.
// It also returns the CPU one no-op HTTP request costs the machine (the
// load generator's share and the server's).
func noopBaselines(ctx context.Context, o options, client *http.Client) ([]figure, time.Duration, error) {
	httpAddr, httpPID, stopHTTP, err := startBaseline(ctx, "noop-http")
	if err != nil {
		return nil, 0, err
	}
	cpuBefore := cpuTime(os.Getpid()) + cpuTime(httpPID)
	noopHTTP := load.Run(ctx, "noop_http", o.workers, o.duration, func(ctx context.Context, _, _ int) error {
		return post(ctx, client, "http://"+httpAddr+"/noop", `{"uniqueId":"u","address":"a.example","version":"7.2.1","seats":1}`)
	})
	httpCPU := (cpuTime(os.Getpid()) + cpuTime(httpPID) - cpuBefore) / time.Duration(max(noopHTTP.Ops, 1))
	stopHTTP()

	grpcAddr, _, stopGRPC, err := startBaseline(ctx, "noop-grpc")
	if err != nil {
		return nil, 0, err
	}
	defer stopGRPC()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	noopGRPC := load.Run(ctx, "noop_grpc", o.workers, o.duration, func(ctx context.Context, _, _ int) error {
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	})
	return []figure{{res: noopHTTP}, {res: noopGRPC}}, httpCPU, nil
}

type figure struct {
	res      load.Result
	baseline *load.Result
}

func report(w *os.File, o options, figs []figure) {
	fmt.Fprintf(w, "\nLicense authority benchmark: %d concurrent clients, %s per figure, loopback, all services as separate processes\n\n", o.workers, o.duration)
	fmt.Fprintf(w, "%-14s %12s %10s %10s %8s  %s\n", "figure", "rate", "p50", "p99", "errors", "vs baseline")
	for _, f := range figs {
		r := f.res
		vs := "(baseline)"
		if f.baseline != nil {
			vs = fmt.Sprintf("%.3f x %s", r.Rate()/f.baseline.Rate(), f.baseline.Name)
		}
		fmt.Fprintf(w, "%-14s %10.0f/s %8.2fms %8.2fms %8d  %s\n", r.Name, r.Rate(), msf(r.P50), msf(r.P99), r.Errors, vs)
		if r.FirstErr != nil {
			fmt.Fprintf(w, "    first error: %v\n", r.FirstErr)
		}
	}
	fmt.Fprintln(w)
	for _, f := range figs {
		r := f.res
		line := fmt.Sprintf("BENCH name=%s value=%.1f unit=per_s", r.Name, r.Rate())
		if f.baseline != nil {
			line += fmt.Sprintf(" baseline=%s ratio=%.4f", f.baseline.Name, r.Rate()/f.baseline.Rate())
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "BENCH name=%s_p50 value=%.3f unit=ms\n", r.Name, msf(r.P50))
		fmt.Fprintf(w, "BENCH name=%s_p99 value=%.3f unit=ms\n", r.Name, msf(r.P99))
	}
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func post(ctx context.Context, c *http.Client, url, body string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, jsonBody(body))
	req.Header.Set("Content-Type", "application/json")
	return do(c, req)
}

func do(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	var buf [4096]byte
	for {
		if _, err := resp.Body.Read(buf[:]); err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// startNATS runs a NATS server with JetStream in its own process, so the
// benchmark's events go through a real broker but not one shared with a
// running `make dev`.
func startNATS(ctx context.Context, dir string) (string, int, func(), error) {
	bin := os.Getenv("NATS_SERVER_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("nats-server"); err != nil {
			return "", 0, nil, fmt.Errorf("no nats-server: set NATS_SERVER_BIN (make bench builds the pinned one)")
		}
	}
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(dir, "nats"))
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "nats://" + addr, cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, fmt.Errorf("nats-server did not start on %s", addr)
}

// freshDatabase creates an empty database on DATABASE_URL's server.
func freshDatabase(ctx context.Context) (string, func(), error) {
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	conn.Close(ctx)
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}
