// Package rpcerr builds and reads gRPC errors that carry a machine-readable
// reason (google.rpc.ErrorInfo) and, for bad requests, the offending fields
// (google.rpc.BadRequest). Services map their domain errors with it at the
// boundary; the gateway reads the reason to answer in the workspace protocol.
package rpcerr

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// New returns a status error with code, message and an ErrorInfo reason.
func New(code codes.Code, domain, reason, msg string, metadata map[string]string) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: metadata}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// FieldViolation is one bad field of a request.
type FieldViolation struct {
	Field       string
	Description string
}

// InvalidArgument returns an InvalidArgument error naming each bad field, with
// reason as its ErrorInfo reason.
func InvalidArgument(domain, reason string, violations ...FieldViolation) error {
	msg := "invalid request"
	br := &errdetails.BadRequest{}
	for i, v := range violations {
		if i == 0 {
			msg = v.Field + ": " + v.Description
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
	}
	st := status.New(codes.InvalidArgument, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: domain}, br); err == nil {
		st = d
	}
	return st.Err()
}

// Reason returns the ErrorInfo reason of err, or "" when it carries none.
func Reason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// Fields returns the field violations of err.
func Fields(err error) []FieldViolation {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}

// Code returns the gRPC code of err (Unknown for non-status errors, OK for nil).
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	return status.Code(err)
}
