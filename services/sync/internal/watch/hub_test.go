package watch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// memFeed is a feed in memory: the hub's ring and its cut-off rules are
// what these tests look at; the Postgres feed has its own tests in the
// server package.
type memFeed struct {
	mu      sync.Mutex
	changes []domain.Change
}

func (f *memFeed) Head(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.changes)), nil
}

func (f *memFeed) ChangesAfter(_ context.Context, after int64, limit int) ([]domain.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := min(int64(len(f.changes)), after+int64(limit))
	return append([]domain.Change(nil), f.changes[after:end]...), nil
}

func (f *memFeed) add(workspaceID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := int64(len(f.changes)) + 1
	f.changes = append(f.changes, domain.Change{ID: r, Revision: r, View: domain.View{WorkspaceID: workspaceID, LicenseSequence: r}})
}

// startHub runs a hub over a feed and returns a function that appends
// changes to the feed and waits until the hub has broadcast them.
func startHub(t *testing.T, buffer int) (*Hub, func(workspaceID string, n int)) {
	t.Helper()
	feed := &memFeed{}
	h := NewHub(feed, HubConfig{Buffer: buffer, Poll: time.Hour, Bookmark: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, func(workspaceID string, n int) {
		for range n {
			feed.add(workspaceID)
		}
		if err := h.tail(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func subscribe(t *testing.T, h *Hub, workspaceIDs ...string) *Watcher {
	t.Helper()
	f, bad := NewFilter("", workspaceIDs, nil)
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	w, _, err := h.Subscribe(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func revisions(evs []*Event) []int64 {
	var out []int64
	for _, ev := range evs {
		out = append(out, ev.Revision)
	}
	return out
}

func TestHubReadsWhatTheFilterSelectsInOrder(t *testing.T) {
	h, add := startHub(t, 16)
	a := subscribe(t, h, "ws-a")
	all := subscribe(t, h)
	add("ws-a", 1)
	add("ws-b", 2)
	add("ws-a", 1)
	select {
	case <-a.Ready():
	default:
		t.Fatal("a watcher with a change to read was not woken")
	}
	got, mark, err := h.Read(a, 0, nil)
	if err != nil || mark != nil {
		t.Fatalf("read: %v, bookmark %v", err, mark)
	}
	if r := revisions(got); len(r) != 2 || r[0] != 1 || r[1] != 4 {
		t.Fatalf("ws-a's watcher read revisions %v, want [1 4]", r)
	}
	if got, _, _ = h.Read(all, 2, nil); len(got) != 2 || got[0].Revision != 3 {
		t.Fatalf("the unfiltered watcher reading after 2 got %v, want [3 4]", revisions(got))
	}
}

// A watcher whose filter selects nothing of a busy feed stays, however far
// the head moves past what it last read; one that leaves a change it
// selects unread until the ring lets go of it is cut off, and the others
// are not.
func TestHubCutsOffOnlyTheWatcherThatFellBehind(t *testing.T) {
	h, add := startHub(t, 8)
	quiet := subscribe(t, h, "ws-quiet")
	stalled := subscribe(t, h, "ws-busy")
	reader := subscribe(t, h, "ws-busy")
	var after int64
	for range 5 {
		add("ws-busy", 3)
		got, _, err := h.Read(reader, after, nil)
		if err != nil || len(got) != 3 {
			t.Fatalf("the reading watcher: %v, %d changes", err, len(got))
		}
		after = got[len(got)-1].Revision
	}
	select {
	case <-stalled.Done():
	default:
		t.Fatal("a watcher 15 changes behind with a ring of 8 was not cut off")
	}
	if _, _, err := h.Read(stalled, 0, nil); !errors.Is(err, ErrTooSlow) {
		t.Fatalf("the stalled watcher's read: %v, want ErrTooSlow", err)
	}
	select {
	case <-quiet.Done():
		t.Fatal("a watcher that selected none of the changes was cut off")
	default:
	}
	add("ws-quiet", 1)
	if got, _, err := h.Read(quiet, 0, nil); err != nil || len(got) != 1 || got[0].Revision != 16 {
		t.Fatalf("the quiet watcher's read: %v %v, want [16]", revisions(got), err)
	}
	if n := h.Watchers(); n != 2 {
		t.Fatalf("%d watchers left, want 2", n)
	}
}

func TestHubBookmarksTheHead(t *testing.T) {
	h, add := startHub(t, 8)
	w := subscribe(t, h, "ws-a")
	add("ws-b", 3)
	h.bookmark()
	<-w.Ready()
	got, mark, err := h.Read(w, 0, nil)
	if err != nil || len(got) != 0 || mark == nil || mark.Revision != 3 {
		t.Fatalf("read: %v, %v, bookmark %+v; want no change and a bookmark of 3", err, revisions(got), mark)
	}
	if _, again, _ := h.Read(w, 3, nil); again != nil {
		t.Fatal("the same bookmark was given twice")
	}
	msg, err := mark.Message()
	if err != nil || msg.Len() == 0 {
		t.Fatalf("the bookmark's message: %v", err)
	}
}
