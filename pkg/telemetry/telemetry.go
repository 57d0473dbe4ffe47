// Package telemetry sets up a service's traces, metrics and logs once: an
// OpenTelemetry tracer provider (OTLP when an endpoint is configured, a JSON
// lines file when TRACE_FILE is set), W3C trace-context propagation, a
// Prometheus registry for metrics, and a JSON slog logger that stamps each
// record with the trace id of its context.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Config selects exporters. Empty fields turn the matching exporter off; the
// propagation of trace context works either way.
type Config struct {
	Service string
	// OTLPEndpoint is host:port of an OTLP/gRPC collector.
	OTLPEndpoint string
	// TraceFile receives every finished span as one JSON document.
	TraceFile string
	LogLevel  string
	LogOutput io.Writer
}

// Telemetry is what Setup built.
type Telemetry struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// Setup installs global providers and returns them with a shutdown that
// flushes what is buffered.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	t := &Telemetry{Registry: prometheus.NewRegistry()}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	res := resource.NewSchemaless(semconv.ServiceName(cfg.Service))
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	// With nowhere to send spans, recording them is work for nothing: a
	// trace this service starts is not sampled (its ids still reach the
	// logs and the next service), and it follows a caller that samples.
	root := sdktrace.NeverSample()
	if cfg.OTLPEndpoint != "" || cfg.TraceFile != "" {
		root = sdktrace.AlwaysSample()
	}
	tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(root)))
	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	if cfg.TraceFile != "" {
		f, err := os.OpenFile(cfg.TraceFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("telemetry: TRACE_FILE: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			return nil, fmt.Errorf("telemetry: file exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		t.shutdown = append(t.shutdown, func(context.Context) error { return f.Close() })
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	// Flush spans before closing the file they go to.
	t.shutdown = append([]func(context.Context) error{tp.Shutdown}, t.shutdown...)

	exporter, err := otelprom.New(otelprom.WithRegisterer(t.Registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	otel.SetMeterProvider(mp)
	t.shutdown = append(t.shutdown, mp.Shutdown)

	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	t.Logger = NewLogger(out, cfg.LogLevel).With("service", cfg.Service)
	slog.SetDefault(t.Logger)
	return t, nil
}

// Shutdown flushes and closes the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, fn := range t.shutdown {
		errs = append(errs, fn(ctx))
	}
	return errors.Join(errs...)
}

// MetricsHandler serves the Prometheus registry.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// NewLogger returns a JSON logger at level ("debug", "info", "warn", "error").
func NewLogger(out io.Writer, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	return slog.New(traceHandler{slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lv})})
}

// traceHandler adds trace_id and span_id from the record's context, so a log
// line can be found from a trace and back.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
