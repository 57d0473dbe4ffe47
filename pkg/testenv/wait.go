package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 10ms until it holds, failing t after timeout
// or when t's context ends. Tests wait with it instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-tick.C:
		}
	}
}

// LogSink keeps what the code under test logs and shows it when the test
// fails (background loops may log after the test's last line).
type LogSink struct {
	mu    sync.Mutex
	lines []string
}

// NewLogSink returns a sink that prints its lines if t fails.
func NewLogSink(t testing.TB) *LogSink {
	s := &LogSink{}
	t.Cleanup(func() {
		if t.Failed() {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Logf("logs:\n%s", strings.Join(s.lines, "\n"))
		}
	})
	return s
}

// Logger returns a logger writing into the sink.
func (s *LogSink) Logger() *slog.Logger { return slog.New(sinkHandler{s, nil}) }

// Matching counts the lines containing substr.
func (s *LogSink) Matching(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

type sinkHandler struct {
	s     *LogSink
	attrs []slog.Attr
}

func (h sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.s.mu.Lock()
	h.s.lines = append(h.s.lines, b.String())
	h.s.mu.Unlock()
	return nil
}

func (h sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sinkHandler{h.s, append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h sinkHandler) WithGroup(string) slog.Handler { return h }
