package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/watch"
)

// Watch implements the RPC: list (or replay from resume_revision) what the
// filter selects, then relay the hub's changes. The watcher subscribes to
// the hub before it lists or replays, so nothing numbered in between is
// lost; what the list or the replay already covers is skipped by revision
// (and, for a list, by the ids of changes it saw before they were numbered).
func (s *Server) Watch(req *syncv1.WatchRequest, stream syncv1.SyncService_WatchServer) error {
	ctx := stream.Context()
	if s.hub == nil {
		return rpcerr.New(codes.Unavailable, errDomain, "UNAVAILABLE", "watch is not served by this process", nil)
	}
	f, bad := watch.NewFilter(req.GetCustomerId(), req.GetWorkspaceIds(), req.GetLabels())
	if req.GetResumeRevision() < 0 {
		bad = append(bad, rpcerr.FieldViolation{Field: "resume_revision", Description: "must not be negative"})
	}
	if len(bad) > 0 {
		return rpcerr.InvalidArgument(errDomain, "INVALID_WATCH_FILTER", bad...)
	}
	w, head, err := s.hub.Subscribe(ctx, f)
	if err != nil {
		return status.FromContextError(err).Err()
	}
	defer s.hub.Unsubscribe(w)

	var after int64
	var listed map[int64]bool
	if r := req.GetResumeRevision(); r > 0 {
		if after, err = s.replay(ctx, stream, f, r, head); err != nil {
			return err
		}
	} else {
		var list []*watch.Event
		var snapRevision int64
		err := offStack(func() error {
			// The hub's encoded events of views as they stand are reused;
			// only the licenses of the others are read (cached[i] is the
			// event of snap.Views[i], nil for those).
			var cached []*watch.Event
			snap, err := s.store.Snapshot(ctx, workspaceList(f), func(revision int64, i int, v *domain.View) bool {
				ev := s.hub.CachedListEvent(revision, v)
				cached = append(cached[:i], ev)
				return ev == nil
			})
			if err != nil {
				return err
			}
			for i, v := range snap.Views {
				ev := cached[i]
				if ev == nil {
					a := s.hub.Attributes(&v)
					if !f.Matches(a) {
						continue
					}
					ev = s.hub.ListEvent(snap.Revision, v, a) // encoded here, off the handler's stack
				} else if !f.Matches(ev.Attrs) {
					continue
				}
				list = append(list, ev)
			}
			snapRevision = snap.Revision
			if len(snap.Pending) > 0 { // kept for the stream's life: only when needed
				listed = snap.Pending
			}
			return nil
		})
		if err != nil {
			return s.errs.Map(ctx, err)
		}
		for _, ev := range list {
			if err := send(stream, ev); err != nil {
				return err
			}
		}
		list = nil // the stream outlives the list: let it go
		if err := send(stream, watch.NewMarkEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED, snapRevision)); err != nil {
			return err
		}
		after = snapRevision
	}

	var batch []*watch.Event
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Done():
			// A watcher cut off while its stream is stalled gets here once
			// its pending send completes (the client reads again) or the
			// client goes; the hub has dropped it meanwhile, so it costs
			// the others nothing.
			return tooSlow(w.Err(), after)
		case <-w.Ready():
		}
		var mark *watch.Event
		if batch, mark, err = s.hub.Read(w, after, batch[:0]); err != nil {
			return tooSlow(err, after)
		}
		for _, ev := range batch {
			if ev.Revision <= after {
				continue
			}
			if listed[ev.ChangeID] {
				// Already in the list: sending it now would take the
				// workspace back to an older state than the list showed
				// when a later change of it is also in the list.
				delete(listed, ev.ChangeID)
				after = ev.Revision
				continue
			}
			if err := send(stream, ev); err != nil {
				return err
			}
			after = ev.Revision
		}
		clear(batch) // the ring lets go of events; so does this watcher
		if mark != nil && mark.Revision >= after {
			if err := send(stream, mark); err != nil {
				return err
			}
			after = mark.Revision
		}
	}
}

// send writes an event's shared encoding to the stream.
func send(stream syncv1.SyncService_WatchServer, ev *watch.Event) error {
	m, err := ev.Message()
	if err != nil {
		return status.Errorf(codes.Internal, "encoding the watch event of revision %d: %v", ev.Revision, err)
	}
	return stream.SendMsg(m)
}

// replay sends the retained changes after r up to head, or refuses a
// revision the feed no longer holds (or never handed out). It returns the
// revision the stream has reached.
func (s *Server) replay(ctx context.Context, stream syncv1.SyncService_WatchServer, f watch.Filter, r, head int64) (int64, error) {
	var floor, dbHead int64
	if err := offStack(func() (err error) {
		if floor, err = s.store.Floor(ctx); err != nil {
			return err
		}
		dbHead, err = s.store.Head(ctx)
		return err
	}); err != nil {
		return 0, s.errs.Map(ctx, err)
	}
	if r < floor || r > dbHead {
		return 0, rpcerr.New(codes.OutOfRange, errDomain, "REVISION_TOO_OLD",
			fmt.Sprintf("revision %d is not kept (kept: %d to %d); list again", r, floor, dbHead),
			map[string]string{"floor": strconv.FormatInt(floor, 10), "head": strconv.FormatInt(dbHead, 10)})
	}
	after := r
	for after < head {
		var batch []*watch.Event
		var last int64
		if err := offStack(func() error {
			changes, err := s.store.ChangesAfter(ctx, after, 500)
			for _, c := range changes {
				if c.Revision > head {
					break
				}
				last = c.Revision
				if ev := s.hub.ChangeEvent(c); f.Matches(ev.Attrs) {
					_, _ = ev.Message()
					batch = append(batch, ev)
				}
			}
			return err
		}); err != nil {
			return 0, s.errs.Map(ctx, err)
		}
		if last == 0 {
			break
		}
		for _, ev := range batch {
			if err := send(stream, ev); err != nil {
				return 0, err
			}
		}
		after = last
	}
	return max(after, head, r), nil
}

// offStack runs fn on a goroutine of its own and waits for it. A watch
// handler's goroutine lives as long as its stream, and a goroutine's stack
// keeps the size its deepest call gave it: the database reads and license
// decoding of the list or replay, run on the handler's goroutine, would
// leave every idle watcher holding a stack several times the size of the
// one its sends need.
func offStack(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return <-done
}

func tooSlow(err error, after int64) error {
	if !errors.Is(err, watch.ErrTooSlow) {
		return rpcerr.New(codes.Unavailable, errDomain, "UNAVAILABLE",
			fmt.Sprintf("%v; resume from revision %d", err, after),
			map[string]string{"resume_revision": strconv.FormatInt(after, 10)})
	}
	return rpcerr.New(codes.ResourceExhausted, errDomain, "WATCHER_TOO_SLOW",
		fmt.Sprintf("%v; resume from revision %d", err, after),
		map[string]string{"resume_revision": strconv.FormatInt(after, 10)})
}

func workspaceList(f watch.Filter) []string {
	ids := make([]string, 0, len(f.WorkspaceIDs))
	for id := range f.WorkspaceIDs {
		ids = append(ids, id)
	}
	return ids
}
