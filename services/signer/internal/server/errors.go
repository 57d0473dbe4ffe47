package server

import (
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const errDomain = "signer.licensing"

// Reasons the signer returns (google.rpc.ErrorInfo, domain signer.licensing).
const (
	ReasonWorkspaceNotFound   = "WORKSPACE_NOT_FOUND"
	ReasonPlanNotFound        = "PLAN_NOT_FOUND"
	ReasonInvalidAddress      = "INVALID_ADDRESS"
	ReasonInvalidRequest      = "INVALID_REQUEST"
	ReasonInvalidPlan         = "INVALID_PLAN"
	ReasonPlanExists          = "PLAN_EXISTS"
	ReasonPlanVersionConflict = "PLAN_VERSION_CONFLICT"
	ReasonKeyReused           = "IDEMPOTENCY_KEY_REUSED"
	ReasonNoPaidSubscription  = "NO_PAID_SUBSCRIPTION"
	ReasonCancellationPending = "CANCELLATION_PENDING"
	ReasonNotTrialing         = "NOT_TRIALING"
	ReasonTrialNotAllowed     = "TRIAL_NOT_ALLOWED"
	ReasonTrialAlreadyUsed    = "TRIAL_ALREADY_USED"
	ReasonSuspended           = "SUBSCRIPTION_SUSPENDED"
	ReasonAlreadySuspended    = "ALREADY_SUSPENDED"
	ReasonNotSuspended        = "NOT_SUSPENDED"
	ReasonSupportNotSelfServe = "SUPPORT_PLAN_NOT_SELF_SERVICE"
	ReasonOverrideNotAllowed  = "OVERRIDE_NOT_ALLOWED"
	ReasonExceptionNotFound   = "VERSION_EXCEPTION_NOT_FOUND"
	ReasonLicenseNotFound     = "LICENSE_NOT_FOUND"
	ReasonResignJobNotFound   = "RESIGN_JOB_NOT_FOUND"
)

// errInvalidPlan marks a plan definition that would not produce a valid
// license; its field errors name the request fields.
var errInvalidPlan = errors.New("invalid plan")

func newMapper(log *slog.Logger) rpcerr.Mapper {
	// ErrInvalidAddress also matches validate.ErrInvalid, so it comes first.
	return rpcerr.Mapper{Domain: errDomain, Log: log, Rules: append(keyset.ErrorRules(), []rpcerr.Rule{
		{Err: domain.ErrWorkspaceNotFound, Code: codes.NotFound, Reason: ReasonWorkspaceNotFound},
		{Err: domain.ErrVersionExceptionNotFound, Code: codes.NotFound, Reason: ReasonExceptionNotFound},
		{Err: domain.ErrLicenseNotFound, Code: codes.NotFound, Reason: ReasonLicenseNotFound},
		{Err: domain.ErrPlanNotFound, Code: codes.NotFound, Reason: ReasonPlanNotFound},
		{Err: domain.ErrPlanExists, Code: codes.AlreadyExists, Reason: ReasonPlanExists},
		{Err: domain.ErrPlanVersionConflict, Code: codes.FailedPrecondition, Reason: ReasonPlanVersionConflict},
		{Err: domain.ErrIdempotencyKeyReused, Code: codes.FailedPrecondition, Reason: ReasonKeyReused},
		{Err: domain.ErrNoPaidSubscription, Code: codes.FailedPrecondition, Reason: ReasonNoPaidSubscription},
		{Err: domain.ErrCancellationPending, Code: codes.FailedPrecondition, Reason: ReasonCancellationPending},
		{Err: domain.ErrNotTrialing, Code: codes.FailedPrecondition, Reason: ReasonNotTrialing},
		{Err: domain.ErrTrialNotAllowed, Code: codes.FailedPrecondition, Reason: ReasonTrialNotAllowed},
		{Err: domain.ErrTrialAlreadyUsed, Code: codes.FailedPrecondition, Reason: ReasonTrialAlreadyUsed},
		{Err: domain.ErrSubscriptionSuspended, Code: codes.FailedPrecondition, Reason: ReasonSuspended},
		{Err: domain.ErrAlreadySuspended, Code: codes.FailedPrecondition, Reason: ReasonAlreadySuspended},
		{Err: domain.ErrNotSuspended, Code: codes.FailedPrecondition, Reason: ReasonNotSuspended},
		{Err: domain.ErrSupportNotSelfService, Code: codes.FailedPrecondition, Reason: ReasonSupportNotSelfServe},
		{Err: domain.ErrResignJobNotFound, Code: codes.NotFound, Reason: ReasonResignJobNotFound},
		{Err: domain.ErrInvalidAddress, Code: codes.InvalidArgument, Reason: ReasonInvalidAddress},
		{Err: errInvalidPlan, Code: codes.InvalidArgument, Reason: ReasonInvalidPlan},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: ReasonInvalidRequest},
	}...)}
}
