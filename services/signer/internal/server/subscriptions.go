package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
)

// Subscriptions implements signerv1.SubscriptionServiceServer: it reads each
// request into a domain change, and the issuance service applies it.
type Subscriptions struct {
	signerv1.UnimplementedSubscriptionServiceServer
	issuance *issuance.Service
	errs     rpcerr.Mapper
}

// NewSubscriptions returns the subscription server.
func NewSubscriptions(iss *issuance.Service, log *slog.Logger) *Subscriptions {
	return &Subscriptions{issuance: iss, errs: newMapper(log)}
}

// change applies c for a request naming workspace and customer.
func (s *Subscriptions) change(ctx context.Context, method string, req keyed, c domain.Change, bad error) (issuance.Outcome, error) {
	if bad != nil {
		// Name every bad field at once, the ids' too.
		return issuance.Outcome{}, s.errs.Map(ctx, errors.Join(domain.CheckWorkspaceID(req.GetWorkspaceId()), idempotency(method, req).Check(), bad))
	}
	out, err := s.issuance.Change(ctx, req.GetWorkspaceId(), req.GetCustomerId(), idempotency(method, req), c)
	if err != nil {
		return out, s.errs.Map(ctx, err)
	}
	return out, nil
}

// keyed is what every mutating request carries.
type keyed interface {
	proto.Message
	GetIdempotencyKey() string
	GetWorkspaceId() string
	GetCustomerId() string
}

// joined joins the field errors of one request (nil when there are none).
func joined(errs []error) error { return errors.Join(errs...) }

func requirePlan(id string) error {
	if id == "" {
		return validate.Field("plan_id", "required")
	}
	return nil
}

// GrantSubscription implements the RPC.
func (s *Subscriptions) GrantSubscription(ctx context.Context, req *signerv1.GrantSubscriptionRequest) (*signerv1.GrantSubscriptionResponse, error) {
	g := domain.Grant{Plan: domain.Plan{ID: req.GetPlanId()}, AutoRenew: req.AutoRenew, Seller: req.GetSeller()}
	var errs []error
	collect := func(err error) { errs = append(errs, err) }
	var err error
	collect(requirePlan(req.GetPlanId()))
	g.Seats, err = seats("seats", req.Seats)
	collect(err)
	g.Limits, err = overrides(req.GetLimits())
	collect(err)
	g.PeriodStart, err = timestamp("period_start", req.GetPeriodStart())
	collect(err)
	g.PeriodEnd, err = timestamp("period_end", req.GetPeriodEnd())
	collect(err)
	g.Method, err = grantMethod(req.GetGrantMethod())
	collect(err)
	out, err := s.change(ctx, signerv1.SubscriptionService_GrantSubscription_FullMethodName, req, g, joined(errs))
	if err != nil {
		return nil, err
	}
	return &signerv1.GrantSubscriptionResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// StartTrial implements the RPC.
func (s *Subscriptions) StartTrial(ctx context.Context, req *signerv1.StartTrialRequest) (*signerv1.StartTrialResponse, error) {
	if req.GetSupportOverride() {
		// The override is support's to give: the policy lets billing and
		// services start trials, not repeat them.
		if p, _ := authn.FromContext(ctx); p.Role != authn.RoleAdmin && p.Role != authn.RoleSupport {
			return nil, rpcerr.New(codes.PermissionDenied, errDomain, ReasonOverrideNotAllowed, "only admin and support may set support_override", nil)
		}
	}
	var errs []error
	errs = append(errs, requirePlan(req.GetPlanId()))
	if d := req.GetDays(); d < 0 || d > int32(domain.MaxTrialDays) {
		errs = append(errs, validate.Field("days", "must be between 0 and %d, got %d", domain.MaxTrialDays, d))
	}
	method, err := grantMethod(req.GetGrantMethod())
	errs = append(errs, err)
	t := domain.StartTrial{Plan: domain.Plan{ID: req.GetPlanId()}, Days: int(req.GetDays()), Override: req.GetSupportOverride(), Method: method}
	out, err := s.change(ctx, signerv1.SubscriptionService_StartTrial_FullMethodName, req, t, joined(errs))
	if err != nil {
		return nil, err
	}
	return &signerv1.StartTrialResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// ExtendTrial implements the RPC.
func (s *Subscriptions) ExtendTrial(ctx context.Context, req *signerv1.ExtendTrialRequest) (*signerv1.ExtendTrialResponse, error) {
	var errs []error
	if d := req.GetDays(); d < 0 || d > int32(domain.MaxTrialDays) {
		errs = append(errs, validate.Field("days", "must be between 0 and %d, got %d", domain.MaxTrialDays, d))
	}
	until, err := timestamp("until", req.GetUntil())
	errs = append(errs, err)
	out, err := s.change(ctx, signerv1.SubscriptionService_ExtendTrial_FullMethodName, req, domain.ExtendTrial{Days: int(req.GetDays()), Until: until}, joined(errs))
	if err != nil {
		return nil, err
	}
	return &signerv1.ExtendTrialResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// ConvertTrial implements the RPC.
func (s *Subscriptions) ConvertTrial(ctx context.Context, req *signerv1.ConvertTrialRequest) (*signerv1.ConvertTrialResponse, error) {
	c := domain.ConvertTrial{AutoRenew: req.AutoRenew, Seller: req.GetSeller()}
	var errs []error
	var err error
	c.Seats, err = seats("seats", req.Seats)
	errs = append(errs, err)
	c.Limits, err = overrides(req.GetLimits())
	errs = append(errs, err)
	c.PeriodEnd, err = timestamp("period_end", req.GetPeriodEnd())
	errs = append(errs, err)
	c.Method, err = grantMethod(req.GetGrantMethod())
	errs = append(errs, err)
	out, err := s.change(ctx, signerv1.SubscriptionService_ConvertTrial_FullMethodName, req, c, joined(errs))
	if err != nil {
		return nil, err
	}
	return &signerv1.ConvertTrialResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// RenewSubscription implements the RPC.
func (s *Subscriptions) RenewSubscription(ctx context.Context, req *signerv1.RenewSubscriptionRequest) (*signerv1.RenewSubscriptionResponse, error) {
	end, bad := timestamp("period_end", req.GetPeriodEnd())
	out, err := s.change(ctx, signerv1.SubscriptionService_RenewSubscription_FullMethodName, req, domain.Renew{PeriodEnd: end}, bad)
	if err != nil {
		return nil, err
	}
	return &signerv1.RenewSubscriptionResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// CancelSubscription implements the RPC.
func (s *Subscriptions) CancelSubscription(ctx context.Context, req *signerv1.CancelSubscriptionRequest) (*signerv1.CancelSubscriptionResponse, error) {
	out, err := s.change(ctx, signerv1.SubscriptionService_CancelSubscription_FullMethodName, req, domain.Cancel{AtPeriodEnd: req.GetAtPeriodEnd()}, nil)
	if err != nil {
		return nil, err
	}
	return &signerv1.CancelSubscriptionResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// MaxReasonLength bounds a suspension's reason.
const MaxReasonLength = 1000

// SuspendSubscription implements the RPC.
func (s *Subscriptions) SuspendSubscription(ctx context.Context, req *signerv1.SuspendSubscriptionRequest) (*signerv1.SuspendSubscriptionResponse, error) {
	var bad error
	if len(req.GetReason()) > MaxReasonLength {
		bad = validate.Field("reason", "longer than %d characters", MaxReasonLength)
	}
	out, err := s.change(ctx, signerv1.SubscriptionService_SuspendSubscription_FullMethodName, req, domain.Suspend{Reason: req.GetReason()}, bad)
	if err != nil {
		return nil, err
	}
	return &signerv1.SuspendSubscriptionResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), WithdrawnSequence: out.Withdrawn}, nil
}

// ReinstateSubscription implements the RPC.
func (s *Subscriptions) ReinstateSubscription(ctx context.Context, req *signerv1.ReinstateSubscriptionRequest) (*signerv1.ReinstateSubscriptionResponse, error) {
	out, err := s.change(ctx, signerv1.SubscriptionService_ReinstateSubscription_FullMethodName, req, domain.Reinstate{}, nil)
	if err != nil {
		return nil, err
	}
	return &signerv1.ReinstateSubscriptionResponse{Subscription: subscriptionPB(out.Subscription, out.CustomerID), License: optLicensePB(out.License)}, nil
}

// GetEntitlement implements the RPC.
func (s *Subscriptions) GetEntitlement(ctx context.Context, req *signerv1.GetEntitlementRequest) (*signerv1.GetEntitlementResponse, error) {
	e, err := s.issuance.Entitlement(ctx, req.GetWorkspaceId(), req.GetCustomerId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.GetEntitlementResponse{Entitlement: entitlementPB(e)}, nil
}
