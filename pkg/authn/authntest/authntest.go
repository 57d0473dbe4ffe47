// Package authntest helps services test their authorization policy: it tells
// an interceptor's refusal from a handler's answer, so a table can call every
// RPC as every kind of caller and compare with the intended policy.
package authntest

import (
	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
)

// Outcome is what the interceptors decided about a call.
type Outcome string

// The outcomes of a call.
const (
	Allowed         Outcome = "allowed"
	Denied          Outcome = "permission denied"
	Unauthenticated Outcome = "unauthenticated"
)

// Classify tells an interceptor's refusal (a bare status) from a handler's
// answer (OK, or an error carrying an ErrorInfo reason).
func Classify(err error) Outcome {
	if err == nil || rpcerr.Reason(err) != "" {
		return Allowed
	}
	switch rpcerr.Code(err) {
	case codes.PermissionDenied:
		return Denied
	case codes.Unauthenticated:
		return Unauthenticated
	}
	return Allowed
}
