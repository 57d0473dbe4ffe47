package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// WatchOptions tune Watch; zero values take the defaults.
type WatchOptions struct {
	// MinBackoff and MaxBackoff bound the wait before a reconnection
	// (default 200ms and 30s); it doubles after each failed attempt, with
	// jitter, and starts over once an event arrives.
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, when set, hears each error Watch retries after, with the
	// wait it chose (for logging).
	OnRetry func(err error, wait time.Duration)
}

// Watch follows the views req selects and calls handle with every event, in
// order, until ctx ends (it then returns ctx.Err()), handle returns an error
// (returned as is), or the server refuses the request for good
// (INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED).
//
// Without req.ResumeRevision the stream starts with the current views
// (EXISTING) and a LISTED mark. Any other failure (a replica stopping, the
// network, a watcher cut off as too slow) is retried with backoff, resuming
// after the last revision handed to handle, so handle sees no change twice
// and misses none. When the server no longer keeps that revision
// (OUT_OF_RANGE), Watch lists again: handle then gets EXISTING events and a
// LISTED mark again, and should treat the new list as the whole truth (a
// workspace missing from it no longer matches).
func (c *Client) Watch(ctx context.Context, req *syncv1.WatchRequest, handle func(*syncv1.WatchResponse) error, opts WatchOptions) error {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	req = proto.CloneOf(req)
	backoff := opts.MinBackoff
	for {
		progressed, err := c.watchOnce(ctx, req, handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		switch status.Code(err) {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
			return err
		case codes.OutOfRange:
			req.ResumeRevision = 0
		}
		if progressed {
			backoff = opts.MinBackoff
		}
		// Full jitter between half the backoff and the whole of it, so a
		// fleet of operators cut off together does not return together.
		wait := backoff/2 + rand.N(backoff/2+1)
		if opts.OnRetry != nil {
			opts.OnRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, opts.MaxBackoff)
	}
}

type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

// watchOnce runs one stream, moving req.ResumeRevision along with it: past a
// LISTED mark, a change or a bookmark, never in the middle of a list (a
// stream cut there lists again).
func (c *Client) watchOnce(ctx context.Context, req *syncv1.WatchRequest, handle func(*syncv1.WatchResponse) error) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Sync.Watch(ctx, req)
	if err != nil {
		return false, err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		progressed = true
		if err := handle(ev); err != nil {
			return progressed, handlerError{err}
		}
		if ev.GetType() != syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING {
			req.ResumeRevision = ev.GetRevision()
		}
	}
}
