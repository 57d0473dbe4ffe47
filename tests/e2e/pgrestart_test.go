package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/testenv"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/stack"
	"github.com/cloudlicense/authority/tests/workspace"
)

// privatePostgres is a Postgres cluster of the test's own, started and
// stopped with the repository's scripts, so the test can restart it without
// touching the machine's shared server.
type privatePostgres struct {
	root, dir, port string
	adminURL        string
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	p := &privatePostgres{root: repoRoot(t), dir: filepath.Join(t.TempDir(), "pg"), port: port}
	t.Cleanup(p.stop)
	out, err := p.script("ensure-postgres.sh")
	if err != nil {
		t.Fatalf("start a private Postgres: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if u, ok := strings.CutPrefix(line, "DATABASE_URL="); ok {
			p.adminURL = u
		}
	}
	if !strings.Contains(p.adminURL, ":"+port+"/") {
		t.Fatalf("ensure-postgres.sh answered %q, not a private cluster on port %s", p.adminURL, port)
	}
	return p
}

func (p *privatePostgres) script(name string) (string, error) {
	cmd := exec.Command(filepath.Join(p.root, "scripts", name), p.dir)
	env := []string{"ENSURE_SKIP_DEFAULT=1", "PGPORT_PRIVATE=" + p.port, "PG_FAST=1"}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "DATABASE_URL=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

func (p *privatePostgres) stop() { _, _ = p.script("stop-postgres.sh") }

// TestPostgresRestartUnderLoad restarts Postgres while workspaces register and
// sync and billing changes plans. Meanwhile clients get Unavailable (503 at the
// gateway), never another error; afterwards the same service processes serve
// again, and nothing is half-written: every workspace has its credentials and
// its licenses 1..n, every accepted plan change has its license, and the
// outboxes drain.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := startPrivatePostgres(t)
	t.Setenv("DATABASE_URL", pg.adminURL)
	dbURL := testenv.NewDatabase(t)
	nats := testenv.StartNATS(t)
	s, err := stack.Start(t.Context(), stack.Options{
		DatabaseURL: dbURL, NATSURL: nats.URL, Dir: t.TempDir(), BinDir: binDir,
		Env: []string{"RATE_LIMIT_PER_SECOND=0", "WORKSPACE_RATE_LIMIT_PER_SECOND=0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			for _, name := range stack.Services {
				t.Logf("--- %s log (end) ---\n%s", name, s.LogTail(name, 30))
			}
		}
	})
	sys := &system{Stack: s, DatabaseURL: dbURL, NATS: nats}
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Restart")
	token := createToken(t, sys, customer, "", 10000)
	admin := adminClient(t, sys)
	var members []registered
	for i := range 4 {
		members = append(members, registerWorkspace(t, sys, ws, token, fmt.Sprintf("pg%d", i), fmt.Sprintf("https://pg%d.example.com", i)))
	}
	pids := map[string]int{}
	for _, name := range stack.Services {
		pids[name] = sys.PID(name)
	}

	var (
		ok, unavailable atomic.Int64
		mu              sync.Mutex
		wrong           []string
		grants          = map[string]int{} // accepted seat changes per workspace
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	classify := func(what string, err error) {
		var we *workspace.Error
		switch {
		case err == nil:
			ok.Add(1)
		case errors.As(err, &we) && we.Status == 503:
			unavailable.Add(1)
		case rpcerr.Code(err) == codes.Unavailable:
			unavailable.Add(1)
		case loadCtx.Err() != nil:
			// The load was stopped mid-call.
		default:
			mu.Lock()
			wrong = append(wrong, fmt.Sprintf("%s: %v", what, err))
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				m := members[(w+i)%len(members)]
				switch {
				case w == 0 && i%4 == 0:
					_, err := ws.Register(loadCtx, token, "r@restart.test", "restart")
					classify("register", err)
				case w == 1:
					seats := 10 + int64(i)
					_, err := admin.Subscriptions.GrantSubscription(loadCtx, &signerv1.GrantSubscriptionRequest{
						IdempotencyKey: fmt.Sprintf("restart-%d", i), WorkspaceId: m.creds.WorkspaceID, CustomerId: customer, PlanId: "pro", Seats: &seats,
					})
					if err == nil {
						mu.Lock()
						grants[m.creds.WorkspaceID]++
						mu.Unlock()
					}
					classify("grant", err)
				default:
					_, err := ws.Sync(loadCtx, m.creds.WorkspaceID, m.full, m.data)
					classify("sync", err)
				}
			}
		}()
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				stopLoad()
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("load before the restart", 30*time.Second, func() bool { return ok.Load() >= 20 })
	pg.stop()
	waitFor("clients told Unavailable", 30*time.Second, func() bool { return unavailable.Load() >= 5 })
	if out, err := pg.script("ensure-postgres.sh"); err != nil {
		t.Fatalf("restart Postgres: %v\n%s", err, out)
	}
	after := ok.Load()
	waitFor("load after the restart", 60*time.Second, func() bool { return ok.Load() >= after+50 })
	stopLoad()
	wg.Wait()
	if len(wrong) > 0 {
		t.Errorf("%d answers other than Unavailable, e.g.:\n%s", len(wrong), strings.Join(wrong[:min(5, len(wrong))], "\n"))
	}
	for _, name := range stack.Services {
		if got := sys.PID(name); got != pids[name] {
			t.Errorf("%s was restarted (pid %d, was %d): it should have recovered on its own", name, got, pids[name])
		}
	}
	t.Logf("%d operations succeeded, %d were told Unavailable", ok.Load(), unavailable.Load())

	db := connect(t, dbURL)
	eventually(t, 60*time.Second, "the outboxes drained and every workspace licensed", func() (bool, error) {
		n := scalar(t, db, `SELECT (SELECT count(*) FROM registry.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM signer.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM tokens.outbox WHERE published_at IS NULL)`)
		unlicensed := scalar(t, db, `SELECT count(*) FROM registry.workspaces w WHERE NOT EXISTS (SELECT 1 FROM signer.licenses l WHERE l.workspace_id = w.id)`)
		return n == 0 && unlicensed == 0, fmt.Errorf("%d unpublished, %d workspaces without a license", n, unlicensed)
	})
	if n := scalar(t, db, `SELECT count(*) FROM registry.workspaces w WHERE NOT EXISTS (SELECT 1 FROM tokens.client_credentials c WHERE c.workspace_id = w.id)`); n != 0 {
		t.Errorf("%d workspaces without credentials: a half-written registration", n)
	}
	if n := scalar(t, db, `SELECT count(*) FROM (SELECT workspace_id FROM signer.licenses GROUP BY workspace_id HAVING count(*) <> max(sequence) OR count(DISTINCT sequence) <> count(*)) g`); n != 0 {
		t.Errorf("%d workspaces with a gap or a duplicate in their license sequence", n)
	}
	for id, n := range grants {
		var got int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM signer.licenses WHERE workspace_id = $1 AND plan_id = 'pro'`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		// Each accepted change of seats issued a license in its transaction;
		// a change whose answer was lost in the outage may have one too.
		if got < n {
			t.Errorf("workspace %s: %d accepted plan changes but %d pro licenses", id, n, got)
		}
	}
}
