package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/testenv"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
	"github.com/cloudlicense/authority/services/sync/internal/server"
	"github.com/cloudlicense/authority/services/sync/internal/store"
	"github.com/cloudlicense/authority/services/sync/internal/watch"
)

// watchEnv is sync's watch path over real Postgres and NATS: one or more
// replicas (each its own hub, sequencer and gRPC server, as separate
// processes would have) sharing one database, as a deployment does.
type watchEnv struct {
	pool     *pgxpool.Pool
	store    *store.Store
	replicas []func(key string, opts ...grpc.DialOption) syncv1.SyncServiceClient
}

func startWatch(t *testing.T, replicas int, hubCfg watch.HubConfig) *watchEnv {
	t.Helper()
	log := harness.Logger(t)
	pool := harness.Database(t)
	natsURL := testenv.StartNATS(t).URL
	e := &watchEnv{pool: pool, store: store.New(pool)}
	auth := authn.NewRemote(serviceKey, func(_ context.Context, key string) (authn.Principal, error) {
		role, ok := keys[key]
		if !ok {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		return authn.Principal{KeyID: key, Name: key, Role: role}, nil
	})
	for i := range replicas {
		nc, err := events.Connect(natsURL, fmt.Sprintf("%s-%d", t.Name(), i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		st := store.New(pool)
		hub := watch.NewHub(st, hubCfg, log)
		if _, err := watch.Listen(nc, hub); err != nil {
			t.Fatal(err)
		}
		harness.Go(t, hub.Run)
		harness.Go(t, watch.NewSequencer(pool, st, nc, hub, watch.SequencerConfig{Interval: 5 * time.Millisecond}, log).Run)
		srv := grpcserver.New(log, auth, server.Policy)
		syncv1.RegisterSyncServiceServer(srv.Server, server.New(st, nil, log, server.WithHub(hub)))
		lis := bufconn.Listen(1 << 20)
		harness.Go(t, func(ctx context.Context) error { return srv.Serve(ctx, lis, time.Second) })
		e.replicas = append(e.replicas, func(key string, opts ...grpc.DialOption) syncv1.SyncServiceClient {
			conn, err := grpc.NewClient("passthrough:///sync", append([]grpc.DialOption{
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithPerRPCCredentials(authn.APIKey(key))}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			return syncv1.NewSyncServiceClient(conn)
		})
	}
	return e
}

// apply puts license seq of ws (customer, plan) in its view as the event
// consumer does, in its own transaction.
func (e *watchEnv) apply(t testing.TB, ws string, seq int64, customer, plan string) {
	t.Helper()
	if err := e.tryApply(t, ws, seq, customer, plan); err != nil {
		t.Fatal(err)
	}
}

// tryApply is apply for other goroutines than the test's.
func (e *watchEnv) tryApply(t testing.TB, ws string, seq int64, customer, plan string) error {
	tok := harness.SignedLicenseFor(t, ws, seq, -1, -1, license.CloudMeta{CustomerID: customer, PlanID: plan})
	if _, err := e.store.ApplyLicense(context.Background(), e.pool, ws, domain.License{Sequence: seq, Token: tok, Address: "chat.example.com"}); err != nil {
		return fmt.Errorf("apply %s #%d: %w", ws, seq, err)
	}
	return nil
}

// stream opens a watch and returns a function reading its next event, which
// fails the test when none comes within 10s.
func openWatch(t *testing.T, c syncv1.SyncServiceClient, req *syncv1.WatchRequest) (next func() (*syncv1.WatchResponse, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	s, err := c.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ev  *syncv1.WatchResponse
		err error
	}
	ch := make(chan result)
	go func() {
		for {
			ev, err := s.Recv()
			select {
			case ch <- result{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return func() (*syncv1.WatchResponse, error) {
		select {
		case r := <-ch:
			return r.ev, r.err
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event within 10s")
			return nil, nil
		}
	}
}

// nextNonBookmark reads events until one is not a bookmark.
func nextNonBookmark(t *testing.T, next func() (*syncv1.WatchResponse, error)) *syncv1.WatchResponse {
	t.Helper()
	for {
		ev, err := next()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
			return ev
		}
	}
}

// listed reads a list up to its LISTED mark and returns the listed
// workspaces with the list's revision.
func readList(t *testing.T, next func() (*syncv1.WatchResponse, error)) ([]string, int64) {
	t.Helper()
	var ids []string
	for {
		ev := nextNonBookmark(t, next)
		switch ev.GetType() {
		case syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING:
			ids = append(ids, ev.GetView().GetWorkspaceId())
		case syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED:
			return ids, ev.GetRevision()
		default:
			t.Fatalf("in the list: %v", ev)
		}
	}
}

func TestWatchListsThenStreamsChangesThroughFilters(t *testing.T) {
	t.Parallel()
	e := startWatch(t, 1, watch.HubConfig{})
	e.apply(t, "ws-a", 1, "cus-1", "pro")
	e.apply(t, "ws-b", 1, "cus-2", "starter")
	e.apply(t, "ws-c", 1, "cus-1", "starter")
	c := e.replicas[0]("operator-key")

	tests := []struct {
		name string
		req  *syncv1.WatchRequest
		want []string
	}{
		{"all", &syncv1.WatchRequest{}, []string{"ws-a", "ws-b", "ws-c"}},
		{"customer", &syncv1.WatchRequest{CustomerId: "cus-1"}, []string{"ws-a", "ws-c"}},
		{"workspaces", &syncv1.WatchRequest{WorkspaceIds: []string{"ws-b", "ws-c"}}, []string{"ws-b", "ws-c"}},
		{"label", &syncv1.WatchRequest{Labels: map[string]string{"plan": "starter"}}, []string{"ws-b", "ws-c"}},
		{"customer and label", &syncv1.WatchRequest{CustomerId: "cus-1", Labels: map[string]string{"plan": "starter", "trial": "false"}}, []string{"ws-c"}},
	}
	nexts := make([]func() (*syncv1.WatchResponse, error), len(tests))
	revs := make([]int64, len(tests))
	for i, tt := range tests {
		nexts[i] = openWatch(t, c, tt.req)
		ids, rev := readList(t, nexts[i])
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: listed %v, want %v", tt.name, ids, tt.want)
		}
		revs[i] = rev
	}
	// One change of each workspace, in this order; each watcher must see
	// exactly those it selects, in order, with increasing revisions.
	e.apply(t, "ws-c", 2, "cus-1", "starter")
	e.apply(t, "ws-a", 2, "cus-1", "pro")
	e.apply(t, "ws-b", 2, "cus-2", "starter")
	order := []string{"ws-c", "ws-a", "ws-b"}
	for i, tt := range tests {
		last := revs[i]
		for _, ws := range order {
			if !contains(tt.want, ws) {
				continue
			}
			ev := nextNonBookmark(t, nexts[i])
			if ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED || ev.GetView().GetWorkspaceId() != ws ||
				ev.GetView().GetLicenseSequence() != 2 || ev.GetRevision() <= last {
				t.Fatalf("%s: got %v, want the change of %s after revision %d", tt.name, ev, ws, last)
			}
			if ev.GetCustomerId() == "" || ev.GetLabels()["plan"] == "" || ev.GetView().GetLicense() == "" {
				t.Fatalf("%s: change without its customer, labels or license: %v", tt.name, ev)
			}
			last = ev.GetRevision()
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestWatchResumesOrSaysTooOld(t *testing.T) {
	t.Parallel()
	e := startWatch(t, 1, watch.HubConfig{})
	e.apply(t, "ws-r", 1, "cus-1", "pro")
	c := e.replicas[0]("operator-key")
	next := openWatch(t, c, &syncv1.WatchRequest{WorkspaceIds: []string{"ws-r"}})
	readList(t, next)

	e.apply(t, "ws-r", 2, "cus-1", "pro")
	first := nextNonBookmark(t, next)
	e.apply(t, "ws-r", 3, "cus-1", "pro")
	e.apply(t, "ws-other", 1, "cus-1", "pro")
	e.apply(t, "ws-r", 4, "cus-1", "pro")

	// Resuming after the first change replays exactly the later ones of
	// this workspace, in order, then carries on live.
	resumed := openWatch(t, c, &syncv1.WatchRequest{WorkspaceIds: []string{"ws-r"}, ResumeRevision: first.GetRevision()})
	last := first.GetRevision()
	for _, seq := range []int64{3, 4} {
		ev := nextNonBookmark(t, resumed)
		if ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED || ev.GetView().GetLicenseSequence() != seq || ev.GetRevision() <= last {
			t.Fatalf("resumed: got %v, want license %d after revision %d", ev, seq, last)
		}
		last = ev.GetRevision()
	}
	e.apply(t, "ws-r", 5, "cus-1", "pro")
	if ev := nextNonBookmark(t, resumed); ev.GetView().GetLicenseSequence() != 5 {
		t.Fatalf("live after the replay: %v", ev)
	}

	// A revision never handed out, and one pruned away, are refused.
	_, err := openWatch(t, c, &syncv1.WatchRequest{ResumeRevision: last + 1000})()
	wantStatus(t, err, codes.OutOfRange, "REVISION_TOO_OLD")
	if _, err := e.store.PruneChanges(t.Context(), e.pool, 0); err != nil {
		t.Fatal(err)
	}
	_, err = openWatch(t, c, &syncv1.WatchRequest{ResumeRevision: first.GetRevision()})()
	wantStatus(t, err, codes.OutOfRange, "REVISION_TOO_OLD")
	// The head itself can still be resumed from after pruning.
	head, err := e.store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	again := openWatch(t, c, &syncv1.WatchRequest{WorkspaceIds: []string{"ws-r"}, ResumeRevision: head})
	e.apply(t, "ws-r", 6, "cus-1", "pro")
	if ev := nextNonBookmark(t, again); ev.GetView().GetLicenseSequence() != 6 || ev.GetRevision() <= head {
		t.Fatalf("resumed at the head: %v", ev)
	}
}

// TestWatchTwoReplicasSeeEveryChangeInOrder applies changes concurrently
// through both replicas' store (as two consumers would), and checks that a
// watcher on each replica sees every change exactly once, each workspace's
// in the order committed, with the same revisions on both.
func TestWatchTwoReplicasSeeEveryChangeInOrder(t *testing.T) {
	t.Parallel()
	e := startWatch(t, 2, watch.HubConfig{Buffer: 4096})
	const workspaces, perWorkspace = 8, 25
	var nexts []func() (*syncv1.WatchResponse, error)
	for _, dial := range e.replicas {
		next := openWatch(t, dial("operator-key"), &syncv1.WatchRequest{})
		readList(t, next)
		nexts = append(nexts, next)
	}
	var wg sync.WaitGroup
	for w := range workspaces {
		// Two writers per workspace racing on the same sequences: the
		// view's rule keeps only forward moves, and the feed must hold
		// exactly those.
		for range 2 {
			wg.Go(func() {
				for seq := int64(1); seq <= perWorkspace; seq++ {
					if err := e.tryApply(t, fmt.Sprintf("ws-%d", w), seq, "cus-1", "pro"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var first []string
	for r, next := range nexts {
		seen := map[string]int64{}
		var log []string
		var last int64
		done := 0
		for done < workspaces {
			ev := nextNonBookmark(t, next)
			ws, seq := ev.GetView().GetWorkspaceId(), ev.GetView().GetLicenseSequence()
			if ev.GetRevision() <= last {
				t.Fatalf("replica %d: revision %d after %d", r, ev.GetRevision(), last)
			}
			if seq <= seen[ws] {
				t.Fatalf("replica %d: %s license %d after %d", r, ws, seq, seen[ws])
			}
			last = ev.GetRevision()
			seen[ws] = seq
			log = append(log, fmt.Sprintf("%d:%s#%d", ev.GetRevision(), ws, seq))
			if seq == perWorkspace {
				done++
			}
		}
		if r == 0 {
			first = log
		} else if fmt.Sprint(log) != fmt.Sprint(first) {
			t.Fatalf("replicas disagree:\n%v\n%v", first, log)
		}
	}
	var changes int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM view_changes`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != len(first) {
		t.Fatalf("watchers saw %d changes, the feed holds %d", len(first), changes)
	}
}

func TestWatchRefusesBadFiltersAndOtherRoles(t *testing.T) {
	t.Parallel()
	e := startWatch(t, 1, watch.HubConfig{})
	c := e.replicas[0]("operator-key")
	bad := []struct {
		req   *syncv1.WatchRequest
		field string
	}{
		{&syncv1.WatchRequest{Labels: map[string]string{"colour": "blue"}}, `labels["colour"]`},
		{&syncv1.WatchRequest{Labels: map[string]string{"trial": "maybe"}}, `labels["trial"]`},
		{&syncv1.WatchRequest{WorkspaceIds: []string{"ws-1", " "}}, "workspace_ids[1]"},
		{&syncv1.WatchRequest{WorkspaceIds: make([]string, watch.MaxWorkspaceIDs+1)}, "workspace_ids"},
		{&syncv1.WatchRequest{ResumeRevision: -1}, "resume_revision"},
	}
	for _, tt := range bad {
		_, err := openWatch(t, c, tt.req)()
		wantStatus(t, err, codes.InvalidArgument, "INVALID_WATCH_FILTER")
		if f := rpcerr.Fields(err); len(f) == 0 || f[0].Field != tt.field {
			t.Errorf("%v: fields %v, want %s", tt.req, f, tt.field)
		}
	}
	for key, code := range map[string]codes.Code{
		serviceKey: codes.PermissionDenied, "billing-key": codes.PermissionDenied, "support-key": codes.PermissionDenied,
		"unknown-key": codes.Unauthenticated,
	} {
		_, err := openWatch(t, e.replicas[0](key), &syncv1.WatchRequest{})()
		if got := rpcerr.Code(err); got != code {
			t.Errorf("%s: code %v (%v), want %v", key, got, err, code)
		}
	}
	if ev, err := openWatch(t, e.replicas[0]("admin-key"), &syncv1.WatchRequest{})(); err != nil || ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED {
		t.Fatalf("admin: %v %v", ev, err)
	}
}

// TestSlowWatcherIsCutOff: a watcher that stops reading is cut off with
// RESOURCE_EXHAUSTED once its buffer fills, while another watcher of the
// same replica receives every change.
func TestSlowWatcherIsCutOff(t *testing.T) {
	t.Parallel()
	// The buffer leaves the fast watcher room for a loaded machine; the slow
	// one stalls after the transport's windows (about 100 changes) and the
	// buffer fill, well before the last change.
	e := startWatch(t, 1, watch.HubConfig{Buffer: 100})
	dial := e.replicas[0]
	// Small fixed windows, so the transport stops taking the slow watcher's
	// messages early and its buffer in the hub fills.
	slowClient := dial("operator-key", grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	slowCtx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slow, err := slowClient.Watch(slowCtx, &syncv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := slow.Recv(); err != nil || ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED {
		t.Fatalf("slow watcher's list: %v %v", ev, err)
	}
	fast := openWatch(t, dial("operator-key"), &syncv1.WatchRequest{})
	readList(t, fast)

	const changes = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := int64(1); seq <= changes; seq++ {
			if err := e.tryApply(t, "ws-slow", seq, "cus-1", "pro"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for seq := int64(1); seq <= changes; seq++ {
		if ev := nextNonBookmark(t, fast); ev.GetView().GetLicenseSequence() != seq {
			t.Fatalf("fast watcher: got license %d, want %d", ev.GetView().GetLicenseSequence(), seq)
		}
	}
	<-done
	// The slow watcher now reads: what was in flight, then the status.
	var got int
	for {
		_, err := slow.Recv()
		if err == io.EOF {
			t.Fatal("slow watcher's stream ended without a status")
		}
		if err != nil {
			wantStatus(t, err, codes.ResourceExhausted, "WATCHER_TOO_SLOW")
			break
		}
		got++
	}
	if got >= changes {
		t.Fatalf("slow watcher received all %d changes; it was never cut off", got)
	}
}

// TestWatchListsReuseEncodedViewsOnlyWhileTheyStand: watchers starting one
// after the other list the same view from the hub's cache, with its license
// as stored; once the view changes, a new list carries the new license, and
// a view stamped by a sync is listed with the new stamp.
func TestWatchListsReuseEncodedViewsOnlyWhileTheyStand(t *testing.T) {
	t.Parallel()
	e := startWatch(t, 1, watch.HubConfig{})
	e.apply(t, "ws-cache", 1, "cus-1", "pro")
	listOne := func() *syncv1.SyncView {
		t.Helper()
		next := openWatch(t, e.replicas[0]("operator-key"), &syncv1.WatchRequest{WorkspaceIds: []string{"ws-cache"}})
		ev := nextNonBookmark(t, next)
		if ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING {
			t.Fatalf("want the view listed, got %v", ev)
		}
		return ev.GetView()
	}
	stored := func() domain.View {
		t.Helper()
		v, err := e.store.View(t.Context(), "ws-cache")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first, second := listOne(), listOne()
	if first.GetLicense() != stored().License || second.GetLicense() != first.GetLicense() || second.GetRevision() != first.GetRevision() {
		t.Fatalf("lists of a standing view differ from each other or from the store: %d/%d", first.GetLicenseSequence(), second.GetLicenseSequence())
	}

	e.apply(t, "ws-cache", 2, "cus-1", "enterprise")
	if got := listOne(); got.GetLicenseSequence() != 2 || got.GetLicense() != stored().License || got.GetLicense() == first.GetLicense() {
		t.Fatalf("after the change, a list showed license %d (the stored one: %v)", got.GetLicenseSequence(), got.GetLicense() == stored().License)
	}

	synced := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := e.pool.Exec(t.Context(), `UPDATE views SET last_synced_at = $2 WHERE workspace_id = $1`, "ws-cache", synced); err != nil {
		t.Fatal(err)
	}
	if got := listOne(); !got.GetLastSyncedAt().AsTime().Equal(synced) {
		t.Fatalf("a list after a sync stamp shows last synced %v, want %v", got.GetLastSyncedAt().AsTime(), synced)
	}
}
