package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cloudlicense/authority/pkg/authn"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// The watch figures: W watchers, each on a gRPC connection of its own as W
// operators would hold, follow one workspace. The figure is the time from
// the commit of a change of its view to the change's arrival on the
// watchers (p99 over every watcher and round, and the last watcher), and
// the server's resident memory per idle watcher. The baseline is a bare
// gRPC server in its own process with the same layout: W streams of the
// same RPC on W connections, each handler sending one message of the same
// size when told to, its memory measured the same way.

const watchRounds = 5

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: W
// connections need W descriptors in the client and in the server.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// broadcaster is the baseline server: every Watch stream waits for the
// broadcast and sends one message; GetSyncView broadcasts.
type broadcaster struct {
	syncv1.UnimplementedSyncServiceServer
	msg     *syncv1.WatchResponse
	mu      sync.Mutex
	streams map[chan *syncv1.WatchResponse]struct{}
}

func (b *broadcaster) Watch(_ *syncv1.WatchRequest, stream syncv1.SyncService_WatchServer) error {
	ch := make(chan *syncv1.WatchResponse, 1)
	b.mu.Lock()
	b.streams[ch] = struct{}{}
	b.mu.Unlock()
	defer func() { b.mu.Lock(); delete(b.streams, ch); b.mu.Unlock() }()
	if err := stream.Send(&syncv1.WatchResponse{Type: syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED}); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case m := <-ch:
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

func (b *broadcaster) GetSyncView(context.Context, *syncv1.GetSyncViewRequest) (*syncv1.GetSyncViewResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.streams {
		select {
		case ch <- b.msg:
		default:
		}
	}
	return &syncv1.GetSyncViewResponse{}, nil
}

// serveBroadcast runs the baseline broadcast server; payload is the size of
// the license text its message carries (that of the real change).
func serveBroadcast(ctx context.Context, addr string, payload int) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	syncv1.RegisterSyncServiceServer(srv, &broadcaster{streams: map[chan *syncv1.WatchResponse]struct{}{},
		msg: &syncv1.WatchResponse{Type: syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED, Revision: 1,
			View: &syncv1.SyncView{WorkspaceId: "ws", License: strings.Repeat("x", payload)}}})
	go func() { <-ctx.Done(); srv.Stop() }()
	return srv.Serve(lis)
}

// watchers holds W open streams and the time each received its latest
// message.
type watchers struct {
	conns []*grpc.ClientConn
	got   []atomic.Int64 // unix nanoseconds of the last CHANGED
	count atomic.Int64   // CHANGED messages received
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

// openWatchers opens n connections to addr, a Watch stream on each, and
// waits for every list to end.
func openWatchers(ctx context.Context, addr, key string, n int, req *syncv1.WatchRequest) (*watchers, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchers{got: make([]atomic.Int64, n), stop: cancel}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		// The client side is not what is measured: small buffers keep
		// W connections in one process affordable.
		grpc.WithReadBufferSize(8 << 10), grpc.WithWriteBufferSize(8 << 10)}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(authn.APIKey(key)))
	}
	listed := make(chan error, n)
	sem := make(chan struct{}, 64) // connection set-ups in flight
	for i := range n {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			w.close()
			return nil, err
		}
		w.conns = append(w.conns, conn)
		c := syncv1.NewSyncServiceClient(conn)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			sem <- struct{}{}
			stream, err := c.Watch(ctx, req)
			if err != nil {
				<-sem
				listed <- err
				return
			}
			for first := true; ; {
				ev, err := stream.Recv()
				if err != nil {
					if first {
						<-sem
						listed <- err
					}
					return
				}
				switch ev.GetType() {
				case syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED:
					if first {
						first = false
						<-sem
						listed <- nil
					}
				case syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED:
					w.got[i].Store(time.Now().UnixNano())
					w.count.Add(1)
				}
			}
		}()
	}
	for range n {
		if err := <-listed; err != nil {
			w.close()
			return nil, fmt.Errorf("opening watchers: %w", err)
		}
	}
	return w, nil
}

func (w *watchers) close() {
	w.stop()
	for _, c := range w.conns {
		_ = c.Close()
	}
	w.wg.Wait()
}

// round triggers one change and returns each watcher's delay from t0 (the
// instant trigger reports) to its receipt.
func (w *watchers) round(ctx context.Context, trigger func(context.Context) (time.Time, error)) ([]time.Duration, error) {
	want := w.count.Load() + int64(len(w.got))
	t0, err := trigger(ctx)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for w.count.Load() < want {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d watchers received the change within 60s", w.count.Load()-(want-int64(len(w.got))), len(w.got))
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := make([]time.Duration, len(w.got))
	for i := range w.got {
		out[i] = time.Duration(w.got[i].Load() - t0.UnixNano())
	}
	return out, nil
}

type fanout struct {
	name       string
	p99, last  time.Duration
	idleBytes  int64
	deliveries int
}

// measureFanout opens the watchers, reads the server's memory before and
// after, runs the rounds and closes them.
func measureFanout(ctx context.Context, name string, pid int, addr, key string, n int, req *syncv1.WatchRequest, trigger func(context.Context) (time.Time, error)) (fanout, error) {
	before, err := rssOf(pid)
	if err != nil {
		return fanout{}, err
	}
	w, err := openWatchers(ctx, addr, key, n, req)
	if err != nil {
		return fanout{}, err
	}
	defer w.close()
	time.Sleep(3 * time.Second) // let the server settle (GC, stacks)
	after, err := rssOf(pid)
	if err != nil {
		return fanout{}, err
	}
	f := fanout{name: name, idleBytes: (after - before) / int64(n)}
	// The rounds measure the server, but this process receives on 10,000
	// connections too. The second figure would otherwise start with the
	// garbage of the first's 10,000 closed connections in this process, and
	// its rounds would pay for a collection of it that the first's did not.
	runtime.GC()
	var all []time.Duration
	for range watchRounds {
		d, err := w.round(ctx, trigger)
		if err != nil {
			return fanout{}, fmt.Errorf("%s: %w", name, err)
		}
		all = append(all, d...)
		f.last = max(f.last, slices.Max(d))
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(all)
	f.p99 = all[len(all)*99/100]
	f.deliveries = len(all)
	return f, nil
}

func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// watchFigures measures the baseline, then the sync service's watch, with
// the same client and the same number of watchers.
func watchFigures(ctx context.Context, n int, syncAddr string, syncPID int, operatorKey, dbURL, workspaceID string) ([]fanout, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	var licenseLen int
	if err := db.QueryRow(ctx, `SELECT length(license) FROM sync.views WHERE workspace_id = $1`, workspaceID).Scan(&licenseLen); err != nil {
		return nil, fmt.Errorf("the watched workspace's view: %w", err)
	}

	addr, pid, stop, err := startBaseline(ctx, "noop-broadcast", "-payload", strconv.Itoa(licenseLen))
	if err != nil {
		return nil, err
	}
	defer stop()
	trigger, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer trigger.Close()
	base, err := measureFanout(ctx, "noop_broadcast", pid, addr, "", n, &syncv1.WatchRequest{},
		func(ctx context.Context) (time.Time, error) {
			t0 := time.Now()
			_, err := syncv1.NewSyncServiceClient(trigger).GetSyncView(ctx, &syncv1.GetSyncViewRequest{})
			return t0, err
		})
	if err != nil {
		return nil, err
	}

	// The change: the view moves to a new license sequence in a
	// transaction of its own, as the license consumer's would; t0 is taken
	// before the commit is sent, so the figure includes the commit.
	real, err := measureFanout(ctx, "watch_fanout", syncPID, syncAddr, operatorKey, n,
		&syncv1.WatchRequest{WorkspaceIds: []string{workspaceID}},
		func(ctx context.Context) (time.Time, error) {
			tx, err := db.Begin(ctx)
			if err != nil {
				return time.Time{}, err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `UPDATE sync.views SET license_sequence = license_sequence + 1, updated_at = now() WHERE workspace_id = $1`, workspaceID); err != nil {
				return time.Time{}, err
			}
			t0 := time.Now()
			return t0, tx.Commit(ctx)
		})
	if err != nil {
		return nil, err
	}
	return []fanout{base, real}, nil
}

// reportWatch prints the fan-out table and its BENCH lines.
func reportWatch(w io.Writer, n int, base, real fanout) {
	fmt.Fprintf(w, "\nWatch fan-out: %d watchers on %d connections, %d rounds (targets: p99 within 1.5x, memory within 1.25x)\n", n, n, watchRounds)
	fmt.Fprintf(w, "%-16s %10s %10s %14s\n", "figure", "p99", "last", "bytes/watcher")
	for _, f := range []fanout{base, real} {
		fmt.Fprintf(w, "%-16s %8.1fms %8.1fms %14d\n", f.name, msf(f.p99), msf(f.last), f.idleBytes)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "BENCH name=noop_broadcast_p99 value=%.1f unit=ms watchers=%d\n", msf(base.p99), n)
	fmt.Fprintf(w, "BENCH name=noop_stream_bytes value=%d unit=bytes\n", base.idleBytes)
	fmt.Fprintf(w, "BENCH name=watch_fanout_p99 value=%.1f unit=ms watchers=%d baseline=noop_broadcast_p99 ratio=%.3f\n",
		msf(real.p99), n, float64(real.p99)/float64(base.p99))
	fmt.Fprintf(w, "BENCH name=watch_idle_bytes value=%d unit=bytes baseline=noop_stream_bytes ratio=%.3f\n",
		real.idleBytes, float64(real.idleBytes)/float64(max(base.idleBytes, 1)))
}
