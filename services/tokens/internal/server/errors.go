package server

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
)

const errDomain = "tokens.licensing"

func newMapper(log *slog.Logger) rpcerr.Mapper {
	return rpcerr.Mapper{Domain: errDomain, Log: log, Rules: append(keyset.ErrorRules(), []rpcerr.Rule{
		{Err: domain.ErrTokenUnknown, Code: codes.Unauthenticated, Reason: "REGISTRATION_TOKEN_UNKNOWN"},
		{Err: domain.ErrTokenExpired, Code: codes.Unauthenticated, Reason: "REGISTRATION_TOKEN_EXPIRED"},
		{Err: domain.ErrTokenUsedUp, Code: codes.Unauthenticated, Reason: "REGISTRATION_TOKEN_USED_UP"},
		{Err: domain.ErrTokenRevoked, Code: codes.Unauthenticated, Reason: "REGISTRATION_TOKEN_REVOKED"},
		{Err: domain.ErrTokenNotFound, Code: codes.NotFound, Reason: "REGISTRATION_TOKEN_NOT_FOUND"},
		{Err: domain.ErrAlreadyRedeemed, Code: codes.AlreadyExists, Reason: "WORKSPACE_ALREADY_REDEEMED"},
		{Err: domain.ErrInvalidCredentials, Code: codes.Unauthenticated, Reason: "INVALID_CLIENT_CREDENTIALS"},
		{Err: domain.ErrInvalidScope, Code: codes.InvalidArgument, Reason: "INVALID_SCOPE"},
		{Err: domain.ErrInvalidAPIKey, Code: codes.Unauthenticated, Reason: "API_KEY_INVALID"},
		{Err: domain.ErrCustomerNotFound, Code: codes.NotFound, Reason: "CUSTOMER_NOT_FOUND"},
		{Err: domain.ErrPlanNotFound, Code: codes.NotFound, Reason: "PLAN_NOT_FOUND"},
		{Err: domain.ErrCredentialNotFound, Code: codes.NotFound, Reason: "CREDENTIAL_NOT_FOUND"},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
	}...)}
}

func (s *Server) toStatus(ctx context.Context, err error) error { return s.errs.Map(ctx, err) }
