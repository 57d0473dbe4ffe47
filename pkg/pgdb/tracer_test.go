package pgdb_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTracerKeepsParametersOut sets the global tracer provider, so it does
// not run in parallel.
func TestTracerKeepsParametersOut(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(t.Context())
	})
	pool := newPool(t)
	const secret = "lic-secret-7f3a9"

	// No parent span: background loops must not produce spans.
	if _, err := pool.Exec(t.Context(), "SELECT $1::text", secret); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans without a parent, want 0", n)
	}

	ctx, parent := tp.Tracer("test").Start(t.Context(), "request")
	var got string
	if err := pool.QueryRow(ctx, "SELECT $1::text", secret).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "select * from missing_table where token = $1", secret); err == nil {
		t.Fatal("query on a missing table succeeded")
	}
	parent.End()

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the request", s.Name())
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), secret) {
				t.Errorf("span %s attribute %s carries a query parameter", s.Name(), a.Key)
			}
		}
		for _, ev := range s.Events() {
			for _, a := range ev.Attributes {
				if strings.Contains(a.Value.Emit(), secret) {
					t.Errorf("span %s event %s carries a query parameter", s.Name(), ev.Name)
				}
			}
		}
		failed := strings.Contains(attr(s, "db.statement"), "missing_table")
		if (s.Status().Code == codes.Error) != failed {
			t.Errorf("span of %q: status %v", attr(s, "db.statement"), s.Status())
		}
	}
	if strings.Join(names, ",") != "pg SELECT,pg SELECT" {
		t.Errorf("spans = %v, want two pg SELECT", names)
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
