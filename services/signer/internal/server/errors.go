package server

import (
	"log/slog"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const errDomain = "signer.licensing"

// Reasons the signer returns (google.rpc.ErrorInfo, domain signer.licensing).
const (
	ReasonWorkspaceNotFound = "WORKSPACE_NOT_FOUND"
	ReasonPlanNotFound      = "PLAN_NOT_FOUND"
	ReasonInvalidAddress    = "INVALID_ADDRESS"
	ReasonInvalidRequest    = "INVALID_REQUEST"
)

func newMapper(log *slog.Logger) rpcerr.Mapper {
	// ErrInvalidAddress also matches validate.ErrInvalid, so it comes first.
	return rpcerr.Mapper{Domain: errDomain, Log: log, Rules: []rpcerr.Rule{
		{Err: domain.ErrWorkspaceNotFound, Code: codes.NotFound, Reason: ReasonWorkspaceNotFound},
		{Err: domain.ErrPlanNotFound, Code: codes.NotFound, Reason: ReasonPlanNotFound},
		{Err: domain.ErrInvalidAddress, Code: codes.InvalidArgument, Reason: ReasonInvalidAddress},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: ReasonInvalidRequest},
	}}
}
