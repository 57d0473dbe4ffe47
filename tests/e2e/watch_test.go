package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cloudlicense/authority/pkg/client"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// replica is a second sync process beside the stack's, on the same
// database and NATS, as a Deployment's second pod would be.
type replica struct {
	addr string
	cmd  *exec.Cmd
	env  []string
	log  string
}

func startReplica(t *testing.T, sys *system, addr string) *replica {
	t.Helper()
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	r := &replica{addr: addr, log: filepath.Join(t.TempDir(), "sync-2.log"),
		// Later entries win: its own port, and no metrics listener to clash
		// with the first replica's.
		env: append(sys.Env("sync"), "GRPC_ADDR="+addr, "METRICS_ADDR=127.0.0.1:0")}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(filepath.Join(binDir, "sync"))
	r.cmd.Env = r.env
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop(); logf.Close() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	eventually(t, 30*time.Second, "the second sync replica serving", func() (bool, error) {
		resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING, err
	})
	return r
}

func (r *replica) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
}

// watched collects what a client.Watch loop hands over.
type watched struct {
	mu     sync.Mutex
	events []*syncv1.WatchResponse
	seq    map[string]int64
	err    error
}

func watchInto(ctx context.Context, t *testing.T, addr, key string, req *syncv1.WatchRequest) *watched {
	c, err := client.New(client.Config{SyncAddr: addr, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w := &watched{seq: map[string]int64{}}
	go func() {
		err := c.Watch(ctx, req, func(ev *syncv1.WatchResponse) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			if v := ev.GetView(); v != nil {
				// A change seen twice, or one older than what was seen, is
				// a failure of the resume.
				if v.GetLicenseSequence() <= w.seq[v.GetWorkspaceId()] {
					return fmt.Errorf("%s: license %d after %d", v.GetWorkspaceId(), v.GetLicenseSequence(), w.seq[v.GetWorkspaceId()])
				}
				w.seq[v.GetWorkspaceId()] = v.GetLicenseSequence()
			}
			w.events = append(w.events, ev)
			return nil
		}, client.WatchOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}()
	return w
}

func (w *watched) has(want map[string]int64) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil && !errors.Is(w.err, context.Canceled) {
		return false, w.err
	}
	for ws, seq := range want {
		if w.seq[ws] != seq {
			return false, fmt.Errorf("%s at license %d, want %d", ws, w.seq[ws], seq)
		}
	}
	return true, nil
}

// TestWatchAcrossSyncReplicas runs two sync processes: both consume the
// license events (each message reaches one of them) and a watcher on each
// must see every change. The second replica is then restarted: its watcher
// reconnects and resumes by itself, missing nothing and repeating nothing.
func TestWatchAcrossSyncReplicas(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	second := startReplica(t, sys, "")
	admin := adminClient(t, sys)
	key, err := admin.Tokens.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "operator", Role: "operator-read"})
	if err != nil {
		t.Fatal(err)
	}
	customerID := createCustomer(t, sys, "Watch Inc")
	token := createToken(t, sys, customerID, "", 4)
	ws := workspace.New(sys.GatewayURL)
	want := map[string]int64{}
	var ids []string
	for i := range 4 {
		creds, err := ws.Register(ctx, token, fmt.Sprintf("admin%d@watch.test", i), "Watch Chat")
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		ids = append(ids, creds.WorkspaceID)
		want[creds.WorkspaceID] = 1
	}
	req := &syncv1.WatchRequest{CustomerId: customerID}
	watchers := []*watched{watchInto(ctx, t, sys.Addrs["sync"], key.GetKey(), req), watchInto(ctx, t, second.addr, key.GetKey(), req)}

	grant := func(round int) {
		t.Helper()
		for i, id := range ids {
			seats := int64(10 + round)
			resp, err := admin.Subscriptions.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{
				IdempotencyKey: fmt.Sprintf("watch-%d-%d", round, i), WorkspaceId: id, PlanId: "pro", Seats: &seats})
			if err != nil {
				t.Fatalf("grant: %v", err)
			}
			want[id] = max(want[id], resp.GetLicense().GetSequence())
		}
	}
	wait := func(what string) {
		t.Helper()
		for i, w := range watchers {
			eventually(t, 30*time.Second, fmt.Sprintf("watcher %d: %s", i+1, what), func() (bool, error) { return w.has(want) })
		}
	}
	wait("the first licenses")
	grant(1)
	wait("the first grants")

	// The second replica goes away while licenses change, and comes back
	// on the same address; its watcher resumes from its last revision.
	second.stop()
	grant(2)
	wait0 := watchers[0]
	eventually(t, 30*time.Second, "watcher 1 during the restart", func() (bool, error) { return wait0.has(want) })
	second = startReplica(t, sys, second.addr)
	grant(3)
	wait("every grant, after the restart")

	// licensectl watch prints the list, then changes, as JSON lines until
	// it is stopped.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _, _ := sys.Licensectl(wctx, "", "watch", "-customer", customerID, "-o", "json")
	listed := map[string]string{}
	sawEnd := false
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var ev struct {
			Type string
			View struct{ WorkspaceID, LicenseSequence string }
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("licensectl watch line %q: %v", line, err)
		}
		switch ev.Type {
		case "WATCH_EVENT_TYPE_EXISTING":
			listed[ev.View.WorkspaceID] = ev.View.LicenseSequence
		case "WATCH_EVENT_TYPE_LISTED":
			sawEnd = true
		}
	}
	for id, seq := range want {
		if listed[id] != strconv.FormatInt(seq, 10) {
			t.Errorf("licensectl watch listed %s at %q, want %d (output %q)", id, listed[id], seq, out)
		}
	}
	if !sawEnd {
		t.Errorf("licensectl watch printed no LISTED mark: %q", out)
	}

	for i, w := range watchers {
		w.mu.Lock()
		var last int64
		for _, ev := range w.events {
			if ev.GetType() == syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING {
				continue
			}
			if ev.GetRevision() < last {
				t.Errorf("watcher %d: revision %d after %d", i+1, ev.GetRevision(), last)
			}
			last = ev.GetRevision()
		}
		w.mu.Unlock()
	}
}
