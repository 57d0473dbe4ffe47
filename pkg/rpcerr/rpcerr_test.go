package rpcerr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
)

const domain = "registry.licensing"

func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v is not a status error", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("%v carries no ErrorInfo", err)
	return nil
}

func TestNew(t *testing.T) {
	t.Parallel()
	err := rpcerr.New(codes.NotFound, domain, "WORKSPACE_NOT_FOUND", "no such workspace", map[string]string{"workspace_id": "w1"})
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("code = %s, want NotFound", got)
	}
	if got := status.Convert(err).Message(); got != "no such workspace" {
		t.Errorf("message = %q", got)
	}
	if got := rpcerr.Reason(err); got != "WORKSPACE_NOT_FOUND" {
		t.Errorf("Reason = %q", got)
	}
	info := errorInfo(t, err)
	if info.GetDomain() != domain || !maps.Equal(info.GetMetadata(), map[string]string{"workspace_id": "w1"}) {
		t.Errorf("ErrorInfo = %v", info)
	}
	if f := rpcerr.Fields(err); f != nil {
		t.Errorf("Fields = %v, want none", f)
	}
}

func TestInvalidArgument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		violations []rpcerr.FieldViolation
		message    string
	}{
		{"no field", nil, "invalid request"},
		{"one field", []rpcerr.FieldViolation{{Field: "address", Description: "not an IP"}}, "address: not an IP"},
		{"two fields", []rpcerr.FieldViolation{{Field: "a", Description: "empty"}, {Field: "b", Description: "too long"}}, "a: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rpcerr.InvalidArgument(domain, "INVALID_REQUEST", tt.violations...)
			if got := status.Code(err); got != codes.InvalidArgument {
				t.Errorf("code = %s", got)
			}
			if got := status.Convert(err).Message(); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if got := rpcerr.Reason(err); got != "INVALID_REQUEST" {
				t.Errorf("Reason = %q", got)
			}
			if got := errorInfo(t, err).GetDomain(); got != domain {
				t.Errorf("domain = %q", got)
			}
			if got := rpcerr.Fields(err); !slices.Equal(got, tt.violations) {
				t.Errorf("Fields = %v, want %v", got, tt.violations)
			}
		})
	}
}

func TestReadersOnOtherErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"nil", nil, codes.OK},
		{"plain error", errors.New("boom"), codes.Unknown},
		{"status without details", status.Error(codes.Unavailable, "down"), codes.Unavailable},
		{"wrapped status", fmt.Errorf("call tokens: %w", status.Error(codes.PermissionDenied, "no")), codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rpcerr.Code(tt.err); got != tt.code {
				t.Errorf("Code = %s, want %s", got, tt.code)
			}
			if got := rpcerr.Reason(tt.err); got != "" {
				t.Errorf("Reason = %q, want none", got)
			}
			if got := rpcerr.Fields(tt.err); got != nil {
				t.Errorf("Fields = %v, want none", got)
			}
		})
	}
}

var (
	errNotFound = errors.New("workspace not found")
	errConflict = errors.New("workspace exists")
)

// connectError is what pgx returns when the database cannot be reached.
func connectError(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens, the dial is refused at once.
	conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	if err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected to 127.0.0.1:1")
	}
	return err
}

func TestMapper(t *testing.T) {
	t.Parallel()
	downstream := rpcerr.New(codes.FailedPrecondition, "tokens.licensing", "KEY_REVOKED", "key revoked", nil)
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		reason  string
		fields  []string
		logged  bool
		message string
	}{
		{name: "rule", err: fmt.Errorf("get: %w", errNotFound), code: codes.NotFound, reason: "WORKSPACE_NOT_FOUND", message: "get: workspace not found"},
		{name: "second rule", err: errConflict, code: codes.AlreadyExists, reason: "WORKSPACE_EXISTS"},
		{name: "invalid fields", err: fmt.Errorf("register: %w", errors.Join(validate.Field("address", "not an IP"), validate.Field("name", "empty"))),
			code: codes.InvalidArgument, reason: "INVALID_REQUEST", fields: []string{"address", "name"}, message: "address: not an IP"},
		{name: "downstream status kept", err: downstream, code: codes.FailedPrecondition, reason: "KEY_REVOKED"},
		{name: "database unreachable", err: fmt.Errorf("store: %w", connectError(t)), code: codes.Unavailable, reason: "UNAVAILABLE"},
		{name: "deadline", err: fmt.Errorf("store: %w", context.DeadlineExceeded), code: codes.Unavailable, reason: "UNAVAILABLE"},
		{name: "canceled", err: context.Canceled, code: codes.Canceled, reason: "CANCELED"},
		{name: "unstorable text", err: fmt.Errorf("insert: %w", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0x00`}),
			code: codes.InvalidArgument, reason: "INVALID_REQUEST", fields: []string{"request"}},
		{name: "unknown", err: errors.New("secret detail: token abc"), code: codes.Internal, reason: "INTERNAL", logged: true, message: "internal error"},
	}
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
	}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			m := rpcerr.Mapper{
				Domain: domain,
				Rules: []rpcerr.Rule{
					{Err: errNotFound, Code: codes.NotFound, Reason: "WORKSPACE_NOT_FOUND"},
					{Err: errConflict, Code: codes.AlreadyExists, Reason: "WORKSPACE_EXISTS"},
					{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
				},
				Log: slog.New(slog.NewJSONHandler(&logs, nil)),
			}
			got := m.Map(ctx, tt.err)
			if c := status.Code(got); c != tt.code {
				t.Fatalf("code = %s (%v), want %s", c, got, tt.code)
			}
			if r := rpcerr.Reason(got); r != tt.reason {
				t.Errorf("reason = %q, want %q", r, tt.reason)
			}
			if tt.message != "" {
				if msg := status.Convert(got).Message(); msg != tt.message {
					t.Errorf("message = %q, want %q", msg, tt.message)
				}
			}
			var fields []string
			for _, f := range rpcerr.Fields(got) {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("fields = %v, want %v", fields, tt.fields)
			}
			if !tt.logged {
				if logs.Len() > 0 {
					t.Errorf("logged %s", logs.String())
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if rec["trace_id"] != traceID.String() || !strings.Contains(fmt.Sprint(rec["error"]), "secret detail") {
				t.Errorf("log record = %v, want the error and trace id %s", rec, traceID)
			}
		})
	}
	if err := (rpcerr.Mapper{Domain: domain}).Map(ctx, nil); err != nil {
		t.Errorf("Map(nil) = %v", err)
	}
}
