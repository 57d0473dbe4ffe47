package server

import (
	"log/slog"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

const errDomain = "sync.licensing"

// newMapper lists every reason sync returns. Order matters: a bad workspace
// id is the caller's bug (INVALID_REQUEST) and must match before the generic
// field rule, which means the workspace's registration data is bad.
func newMapper(log *slog.Logger) rpcerr.Mapper {
	return rpcerr.Mapper{Domain: errDomain, Log: log, Rules: []rpcerr.Rule{
		{Err: domain.ErrInvalidRequest, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REGISTRATION_DATA"},
		{Err: domain.ErrWorkspaceNotFound, Code: codes.NotFound, Reason: "WORKSPACE_NOT_FOUND"},
		{Err: domain.ErrSignerUnavailable, Code: codes.Unavailable, Reason: "UNAVAILABLE"},
		{Err: domain.ErrUnsupportedVersion, Code: codes.FailedPrecondition, Reason: "UNSUPPORTED_VERSION"},
	}}
}
