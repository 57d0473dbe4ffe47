package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudlicense/authority/pkg/telemetry"
)

var (
	traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

func tracedContext(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
}

func records(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

func TestLoggerAddsTraceID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ctx    func(context.Context) context.Context
		log    func(*slog.Logger, context.Context)
		traced bool
	}{
		{"no span", func(ctx context.Context) context.Context { return ctx }, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") }, false},
		{"span", tracedContext, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") }, true},
		{"span through With", tracedContext, func(l *slog.Logger, ctx context.Context) { l.With("k", "v").InfoContext(ctx, "hello") }, true},
		{"span through WithGroup", tracedContext, func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "hello", "k", "v") }, true},
		{"span but no context given", tracedContext, func(l *slog.Logger, _ context.Context) { l.Info("hello") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.log(telemetry.NewLogger(&buf, "info"), tt.ctx(t.Context()))
			recs := records(t, &buf)
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			rec := recs[0]
			if rec["msg"] != "hello" {
				t.Errorf("record = %v", rec)
			}
			// A grouped logger nests the ids inside its group, as slog does
			// for every attribute added to the record.
			fields := rec
			if g, ok := rec["g"].(map[string]any); ok {
				fields = g
			}
			gotTrace, hasTrace := fields["trace_id"]
			_, hasSpan := fields["span_id"]
			if hasSpan != tt.traced {
				t.Errorf("span_id present = %v, want %v", hasSpan, tt.traced)
			}
			if hasTrace != tt.traced {
				t.Fatalf("trace_id present = %v, want %v (record %v)", hasTrace, tt.traced, rec)
			}
			if tt.traced && gotTrace != traceID.String() {
				t.Errorf("trace_id = %v, want %s", gotTrace, traceID)
			}
		})
	}
}

func TestLoggerLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  []string
	}{
		{"debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"info", []string{"INFO", "WARN", "ERROR"}},
		{"", []string{"INFO", "WARN", "ERROR"}},
		{"nonsense", []string{"INFO", "WARN", "ERROR"}},
		{"WARN", []string{"WARN", "ERROR"}},
		{"error", []string{"ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := telemetry.NewLogger(&buf, tt.level)
			l.Debug("m")
			l.Info("m")
			l.Warn("m")
			l.Error("m")
			var got []string
			for _, rec := range records(t, &buf) {
				got = append(got, rec["level"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("levels = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSetup installs global providers, so it does not run in parallel.
func TestSetup(t *testing.T) {
	prevLogger := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prevLogger) })

	var logs bytes.Buffer
	traceFile := filepath.Join(t.TempDir(), "spans.jsonl")
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Service: "registry", TraceFile: traceFile, LogLevel: "info", LogOutput: &logs})
	if err != nil {
		t.Fatal(err)
	}

	ctx, span := otel.Tracer("test").Start(t.Context(), "unit-of-work")
	tel.Logger.InfoContext(ctx, "working")
	slog.InfoContext(ctx, "through the default logger")
	span.End()

	recs := records(t, &logs)
	if len(recs) != 2 {
		t.Fatalf("got %d log records, want 2: %s", len(recs), logs.String())
	}
	for _, rec := range recs {
		if rec["service"] != "registry" || rec["trace_id"] != span.SpanContext().TraceID().String() {
			t.Errorf("record %v lacks service or the span's trace id", rec)
		}
	}

	// The propagator carries the trace context across process boundaries.
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if !strings.Contains(carrier["traceparent"], span.SpanContext().TraceID().String()) {
		t.Errorf("traceparent = %q", carrier["traceparent"])
	}

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Errorf("metrics: %d %.200s", rec.Code, rec.Body.String())
	}

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans, err := os.ReadFile(traceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spans), `"unit-of-work"`) {
		t.Errorf("trace file lacks the span: %.500s", spans)
	}
}

func TestSetupRejectsUnwritableTraceFile(t *testing.T) {
	t.Parallel()
	_, err := telemetry.Setup(t.Context(), telemetry.Config{Service: "x", TraceFile: filepath.Join(t.TempDir(), "missing", "spans.jsonl"), LogOutput: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "TRACE_FILE") {
		t.Errorf("Setup = %v, want a TRACE_FILE error", err)
	}
}
