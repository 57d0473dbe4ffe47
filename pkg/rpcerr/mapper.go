package rpcerr

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/validate"
)

// Rule maps one domain error to a code and reason.
type Rule struct {
	Err    error
	Code   codes.Code
	Reason string
}

// Mapper is a service's one place where domain errors become gRPC statuses.
type Mapper struct {
	Domain string
	Rules  []Rule
	Log    *slog.Logger
}

// Map returns the status for err: the first matching rule; a status error
// from a downstream call as it is; Unavailable for a database outage;
// InvalidArgument for text the database cannot store; and for
// anything else a bare Internal, logged with the trace id.
func (m Mapper) Map(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, r := range m.Rules {
		if errors.Is(err, r.Err) {
			if fields := validate.Fields(err); r.Code == codes.InvalidArgument && len(fields) > 0 {
				vs := make([]FieldViolation, len(fields))
				for i, f := range fields {
					vs[i] = FieldViolation{Field: f.Field, Description: f.Reason}
				}
				return InvalidArgument(m.Domain, r.Reason, vs...)
			}
			return New(r.Code, m.Domain, r.Reason, err.Error(), nil)
		}
	}
	if code := Code(err); code != codes.Unknown {
		return err
	}
	if pgdb.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return New(codes.Unavailable, m.Domain, "UNAVAILABLE", "storage unavailable, retry", nil)
	}
	if pgdb.IsUnstorableText(err) {
		// A caller sent text the database cannot hold; no rule names the
		// field this deep, so the answer says what was wrong with it.
		return InvalidArgument(m.Domain, "INVALID_REQUEST", FieldViolation{Field: "request", Description: "a text field holds a NUL character or an invalid byte sequence"})
	}
	if errors.Is(err, context.Canceled) {
		return New(codes.Canceled, m.Domain, "CANCELED", "request canceled", nil)
	}
	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "internal error", "error", err, "trace_id", trace.SpanContextFromContext(ctx).TraceID().String())
	return New(codes.Internal, m.Domain, "INTERNAL", "internal error", nil)
}
