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
	// Buffer is how many recent changes the hub keeps, shared by every
	// watcher (default 1024): a watcher that has not yet read a change it
	// selects when that change leaves the buffer is cut off as too slow. It
	// bounds the hub's memory whatever the number of watchers, and makes a
	// stalled watcher cost the others nothing.
	Buffer int
	// Poll is how often the feed is read without a wake-up (default 1s): the
	// fallback when the sequencer's NATS notice is lost.
	Poll time.Duration
	// Bookmark is how often every watcher gets the hub's head (default 30s).
	Bookmark time.Duration
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Buffer <= 0 {
		c.Buffer = 1024
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

// Hub fans the feed out to this replica's watchers. Recent changes sit in
// one ring that every watcher reads from, so a change costs one slot however
// many watchers it reaches, and a watcher costs a few words and a wake-up
// channel rather than a queue of its own.
type Hub struct {
	feed Feed
	cfg  HubConfig
	log  *slog.Logger
	wake chan struct{}

	attrs attrCache
	lists listCache

	// mu is held to write by the hub and Subscribe, to read by the
	// watchers: thousands of them read at once after a change, and must not
	// queue behind each other.
	mu    sync.RWMutex
	head  int64
	ready chan struct{}
	// ring holds the change of revision r at r % len(ring) while r >
	// head-len(ring).
	ring     []*Event
	marks    int64  // bookmarks given so far
	mark     *Event // the latest bookmark, of the head when it was given
	watchers map[*Watcher]struct{}
	// wakeList is the hub goroutine's scratch list of watchers to wake.
	wakeList []*Watcher
}

// NewHub returns a hub; Run tails the feed.
func NewHub(feed Feed, cfg HubConfig, log *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{feed: feed, cfg: cfg, log: log, wake: make(chan struct{}, 1),
		ready: make(chan struct{}), ring: make([]*Event, cfg.Buffer), watchers: map[*Watcher]struct{}{}}
}

// Watcher is one subscription: Ready says there is something to Read, Done
// closes when the hub cut the watcher off, with the reason in Err.
type Watcher struct {
	filter Filter
	ready  chan struct{}
	done   chan struct{}
	err    error

	// Written by the hub holding its mutex, and by Read, which only the
	// watcher's own goroutine calls, holding it to read.
	pending   int64 // the first unread revision the filter selects; 0 for none
	seenMarks int64
}

// Ready has a value when changes (or a bookmark) wait to be read.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Done is closed when the hub has cut the watcher off.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Err is why the watcher was cut off (after Done).
func (w *Watcher) Err() error { return w.err }

func (w *Watcher) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// Wake makes the hub read the feed now (the sequencer numbered changes).
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Subscribe registers a watcher and returns it with the hub's head at that
// instant: every change numbered after the head reaches the watcher through
// Read, every change up to it is in the feed (or, for a list, in the views).
// It waits until the hub has read the feed's head once.
func (h *Hub) Subscribe(ctx context.Context, f Filter) (*Watcher, int64, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	w := &Watcher{filter: f, ready: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	head := h.head
	w.seenMarks = h.marks
	h.mu.Unlock()
	return w, head, nil
}

// Unsubscribe removes a watcher.
func (h *Hub) Unsubscribe(w *Watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// Read appends to buf the changes numbered after `after` that w selects, up
// to the hub's head, and returns them with a bookmark of the head when one
// is due (nil otherwise). After an error (the watcher was cut off) the
// watcher is done.
func (h *Hub) Read(w *Watcher, after int64, buf []*Event) ([]*Event, *Event, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if w.err != nil {
		return buf, nil, w.err
	}
	for r := max(after, h.head-int64(len(h.ring))) + 1; r <= h.head; r++ {
		if ev := h.ring[r%int64(len(h.ring))]; ev != nil && ev.Revision == r && w.filter.Matches(ev.Attrs) {
			buf = append(buf, ev)
		}
	}
	w.pending = 0
	var mark *Event
	if w.seenMarks < h.marks {
		w.seenMarks = h.marks
		mark = h.mark
	}
	return buf, mark, nil
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
			ev := h.ChangeEvent(c)
			// Encoded here, once, before any watcher wakes to send it.
			if _, err := ev.Message(); err != nil {
				h.log.ErrorContext(ctx, "watch: encoding a change", "revision", c.Revision, "error", err)
			}
			h.broadcast(ev)
			after = c.Revision
		}
		if len(changes) < tailBatch {
			return nil
		}
	}
}

// broadcast puts ev in the ring and wakes every watcher it selects without
// ever waiting. A watcher that has yet to read a change the ring now lets go
// of is cut off, so one slow reader never delays the others. The head moves
// under the same lock, so Subscribe's head and what Read returns never
// overlap or leave a hole.
func (h *Hub) broadcast(ev *Event) {
	h.mu.Lock()
	h.head = ev.Revision
	h.ring[ev.Revision%int64(len(h.ring))] = ev
	evicted := ev.Revision - int64(len(h.ring))
	wake := h.wakeList[:0]
	for w := range h.watchers {
		if w.pending != 0 && w.pending <= evicted {
			w.err = fmt.Errorf("%w: more than %d changes behind at revision %d", ErrTooSlow, len(h.ring), ev.Revision)
			close(w.done)
			delete(h.watchers, w)
			continue
		}
		if !w.filter.Matches(ev.Attrs) {
			continue
		}
		if w.pending == 0 {
			w.pending = ev.Revision
		}
		wake = append(wake, w)
	}
	h.mu.Unlock()
	h.signal(wake)
}

// signal wakes the watchers after the hub let go of its mutex: woken while
// it is held, each would at once block on it to Read, and be woken again.
func (h *Hub) signal(wake []*Watcher) {
	for _, w := range wake {
		w.signal()
	}
	clear(wake)
	h.wakeList = wake[:0]
}

// bookmark makes a bookmark of the head due to every watcher; one that has
// read past it by the time it reads skips it.
func (h *Hub) bookmark() {
	h.mu.Lock()
	h.marks++
	h.mark = NewMarkEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, h.head)
	wake := h.wakeList[:0]
	for w := range h.watchers {
		wake = append(wake, w)
	}
	h.mu.Unlock()
	h.signal(wake)
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
