package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
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
		return s.errs.Map(ctx, err)
	}
	defer s.hub.Unsubscribe(w)

	var after int64
	var listed map[int64]bool
	if r := req.GetResumeRevision(); r > 0 {
		if after, err = s.replay(ctx, stream, f, r, head); err != nil {
			return err
		}
	} else {
		snap, err := s.store.Snapshot(ctx, workspaceList(f))
		if err != nil {
			return s.errs.Map(ctx, err)
		}
		for _, v := range snap.Views {
			a := watch.AttributesOf(&v)
			if !f.Matches(a) {
				continue
			}
			if err := stream.Send(watch.NewViewEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING, snap.Revision, v, a).Proto()); err != nil {
				return err
			}
		}
		if err := stream.Send(watch.NewMarkEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED, snap.Revision).Proto()); err != nil {
			return err
		}
		after, listed = snap.Revision, snap.Pending
	}

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Done():
			return tooSlow(w.Err(), after)
		case ev := <-w.C():
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
			if err := stream.Send(ev.Proto()); err != nil {
				return err
			}
			after = ev.Revision
		}
	}
}

// replay sends the retained changes after r up to head, or refuses a
// revision the feed no longer holds (or never handed out). It returns the
// revision the stream has reached.
func (s *Server) replay(ctx context.Context, stream syncv1.SyncService_WatchServer, f watch.Filter, r, head int64) (int64, error) {
	floor, err := s.store.Floor(ctx)
	if err != nil {
		return 0, s.errs.Map(ctx, err)
	}
	dbHead, err := s.store.Head(ctx)
	if err != nil {
		return 0, s.errs.Map(ctx, err)
	}
	if r < floor || r > dbHead {
		return 0, rpcerr.New(codes.OutOfRange, errDomain, "REVISION_TOO_OLD",
			fmt.Sprintf("revision %d is not kept (kept: %d to %d); list again", r, floor, dbHead),
			map[string]string{"floor": strconv.FormatInt(floor, 10), "head": strconv.FormatInt(dbHead, 10)})
	}
	after := r
	for after < head {
		changes, err := s.store.ChangesAfter(ctx, after, 500)
		if err != nil {
			return 0, s.errs.Map(ctx, err)
		}
		if len(changes) == 0 {
			break
		}
		for _, c := range changes {
			if c.Revision > head {
				return after, nil
			}
			ev := watch.NewChangeEvent(c)
			if f.Matches(ev.Attrs) {
				if err := stream.Send(ev.Proto()); err != nil {
					return 0, err
				}
			}
			after = c.Revision
		}
	}
	return max(after, head, r), nil
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
