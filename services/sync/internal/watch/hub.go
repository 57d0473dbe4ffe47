// Package watch is the sync service's fan-out of view changes to watchers:
// the sequencer that numbers committed changes (one replica at a time), and
// the hub each replica runs, which tails the numbered feed in Postgres and
// hands each change to the watchers whose filter selects it. Every replica
// tails the same feed, so a watcher connected to any replica sees every
// change, whichever replica's consumer applied it.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// Feed is what the hub reads: the numbered changes.
type Feed interface {
	Head(ctx context.Context) (int64, error)
	ChangesAfter(ctx context.Context, after int64, limit int) ([]domain.Change, error)
}

// HubConfig tunes the hub; zero values take the defaults.
type HubConfig struct {
	// Buffer is how many events may wait for one watcher before it is cut
	// off as too slow (default 128). It bounds each watcher's memory and
	// makes a stalled watcher cost the others nothing.
	Buffer int
	// Poll is how often the feed is read without a wake-up (default 1s): the
	// fallback when the sequencer's NATS notice is lost.
	Poll time.Duration
	// Bookmark is how often every watcher gets the hub's head (default 30s).
	Bookmark time.Duration
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Buffer <= 0 {
		c.Buffer = 128
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Bookmark <= 0 {
		c.Bookmark = 30 * time.Second
	}
	return c
}

// ErrTooSlow is why a watcher that fell Buffer events behind was cut off.
var ErrTooSlow = errors.New("watcher too slow")

// ErrStopping is why watchers are cut off when the hub stops (the replica
// shuts down): they resume on another replica.
var ErrStopping = errors.New("this replica is stopping")

// Hub fans the feed out to this replica's watchers.
type Hub struct {
	feed Feed
	cfg  HubConfig
	log  *slog.Logger
	wake chan struct{}

	attrs attrCache

	mu       sync.RWMutex
	head     int64
	ready    chan struct{}
	watchers map[*Watcher]struct{}
}

// NewHub returns a hub; Run tails the feed.
func NewHub(feed Feed, cfg HubConfig, log *slog.Logger) *Hub {
	return &Hub{feed: feed, cfg: cfg.withDefaults(), log: log, wake: make(chan struct{}, 1),
		ready: make(chan struct{}), watchers: map[*Watcher]struct{}{}}
}

// Watcher is one subscription. Events arrive on C in revision order; Done
// closes when the hub cut the watcher off, with the reason in Err.
type Watcher struct {
	filter Filter
	c      chan *Event
	done   chan struct{}
	err    error
}

// C delivers the events.
func (w *Watcher) C() <-chan *Event { return w.c }

// Done is closed when the hub has cut the watcher off.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Err is why the watcher was cut off (after Done).
func (w *Watcher) Err() error { return w.err }

// Wake makes the hub read the feed now (the sequencer numbered changes).
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Subscribe registers a watcher and returns it with the hub's head at that
// instant: every change numbered after the head reaches the watcher through
// C, every change up to it is in the feed (or, for a list, in the views).
// It waits until the hub has read the feed's head once.
func (h *Hub) Subscribe(ctx context.Context, f Filter) (*Watcher, int64, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	w := &Watcher{filter: f, c: make(chan *Event, h.cfg.Buffer), done: make(chan struct{})}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	head := h.head
	h.mu.Unlock()
	return w, head, nil
}

// Unsubscribe removes a watcher.
func (h *Hub) Unsubscribe(w *Watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// Attributes returns a view's attributes, decoded once per license and
// shared (not to be modified).
func (h *Hub) Attributes(v *domain.View) *Attributes { return h.attrs.get(v) }

// ChangeEvent returns the event of a numbered change.
func (h *Hub) ChangeEvent(c domain.Change) *Event {
	v := c.View
	return &Event{Type: syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED, Revision: c.Revision, ChangeID: c.ID, Attrs: h.Attributes(&v), view: &v}
}

// Watchers returns how many watchers are subscribed.
func (h *Hub) Watchers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.watchers)
}

// Run tails the feed until ctx ends: on every wake-up, every Poll, and right
// away while a read came back full.
func (h *Hub) Run(ctx context.Context) error {
	defer h.closeAll()
	for {
		head, err := h.feed.Head(ctx)
		if err == nil {
			h.mu.Lock()
			h.head = head
			h.mu.Unlock()
			close(h.ready)
			break
		}
		h.log.WarnContext(ctx, "watch: reading the feed head", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(h.cfg.Poll):
		}
	}
	poll := time.NewTicker(h.cfg.Poll)
	defer poll.Stop()
	bookmark := time.NewTicker(h.cfg.Bookmark)
	defer bookmark.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
		case <-poll.C:
		case <-bookmark.C:
			h.bookmark()
			continue
		}
		if err := h.tail(ctx); err != nil && ctx.Err() == nil {
			h.log.WarnContext(ctx, "watch: reading the feed", "error", err)
		}
	}
}

const tailBatch = 500

func (h *Hub) tail(ctx context.Context) error {
	for {
		h.mu.RLock()
		after := h.head
		h.mu.RUnlock()
		changes, err := h.feed.ChangesAfter(ctx, after, tailBatch)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.Revision != after+1 {
				// Revisions are dense (the sequencer numbers one after the
				// other), so a gap is a bug, not a race: say so loudly.
				h.log.ErrorContext(ctx, "watch: gap in the feed", "after", after, "revision", c.Revision)
			}
			h.broadcast(h.ChangeEvent(c))
			after = c.Revision
		}
		if len(changes) < tailBatch {
			return nil
		}
	}
}

// broadcast hands ev to every watcher it selects without ever waiting: a
// watcher whose buffer is full is cut off, so one slow reader never delays
// the others. The head moves under the same lock, so Subscribe's head and
// the events sent to C never overlap or leave a hole.
func (h *Hub) broadcast(ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.head = ev.Revision
	for w := range h.watchers {
		if !w.filter.Matches(ev.Attrs) {
			continue
		}
		select {
		case w.c <- ev:
		default:
			w.err = fmt.Errorf("%w: %d events behind at revision %d", ErrTooSlow, h.cfg.Buffer, ev.Revision)
			close(w.done)
			delete(h.watchers, w)
		}
	}
}

// bookmark gives every watcher with room in its buffer the head. A full
// buffer skips it: the watcher has changes to read, and a bookmark is only a
// convenience for resuming.
func (h *Hub) bookmark() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ev := NewMarkEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, h.head)
	for w := range h.watchers {
		select {
		case w.c <- ev:
		default:
		}
	}
}

// closeAll cuts every watcher off, so a graceful stop does not wait for
// streams that never end on their own.
func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.err = ErrStopping
		close(w.done)
		delete(h.watchers, w)
	}
}
