package server

import (
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
)

func planPB(p domain.Plan) *signerv1.Plan {
	return &signerv1.Plan{
		Id: p.ID, Name: p.Name, Version: int32(p.Version), Free: p.Free,
		Modules: slices.Clone(p.Modules), DefinitionJson: string(p.DefinitionJSON),
		IsDefault: p.IsDefault, UpdatedAt: tsPB(p.UpdatedAt),
	}
}

func licensePB(l domain.License) *signerv1.License {
	pb := &signerv1.License{
		Id: l.ID, WorkspaceId: l.WorkspaceID, Sequence: l.Sequence, PlanId: l.PlanID, PlanVersion: int32(l.PlanVersion),
		Address: l.Address, Token: l.Token, Kid: l.KeyID, IssuedAt: timestamppb.New(l.IssuedAt), Modules: slices.Clone(l.Modules),
		Trial: l.Trial, Offline: l.Offline,
	}
	if l.ExpiresAt != nil {
		pb.ExpiresAt = timestamppb.New(*l.ExpiresAt)
	}
	return pb
}

func optLicensePB(l *domain.License) *signerv1.License {
	if l == nil {
		return nil
	}
	return licensePB(*l)
}

func tsPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func optTSPB(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

var statePB = map[domain.State]signerv1.SubscriptionState{
	domain.StateFree:      signerv1.SubscriptionState_SUBSCRIPTION_STATE_FREE,
	domain.StatePaid:      signerv1.SubscriptionState_SUBSCRIPTION_STATE_PAID,
	domain.StateTrialing:  signerv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING,
	domain.StateSuspended: signerv1.SubscriptionState_SUBSCRIPTION_STATE_SUSPENDED,
}

var methods = map[signerv1.GrantMethod]license.GrantMethod{
	signerv1.GrantMethod_GRANT_METHOD_MANUAL:       license.GrantedManually,
	signerv1.GrantMethod_GRANT_METHOD_SELF_SERVICE: license.GrantedBySelfService,
	signerv1.GrantMethod_GRANT_METHOD_SALES:        license.GrantedBySales,
	signerv1.GrantMethod_GRANT_METHOD_SUPPORT:      license.GrantedBySupport,
	signerv1.GrantMethod_GRANT_METHOD_RESELLER:     license.GrantedByReseller,
}

func methodPB(m license.GrantMethod) signerv1.GrantMethod {
	for pb, dm := range methods {
		if dm == m {
			return pb
		}
	}
	return signerv1.GrantMethod_GRANT_METHOD_UNSPECIFIED
}

// grantMethod reads an optional grant method ("" when unspecified).
func grantMethod(m signerv1.GrantMethod) (license.GrantMethod, error) {
	if m == signerv1.GrantMethod_GRANT_METHOD_UNSPECIFIED {
		return "", nil
	}
	dm, ok := methods[m]
	if !ok {
		return "", validate.Field("grant_method", "unknown grant method %d", m)
	}
	return dm, nil
}

func intPtr(v *int) *int64 {
	if v == nil {
		return nil
	}
	return new(int64(*v))
}

func subscriptionPB(s domain.Subscription, customerID string) *signerv1.Subscription {
	o := s.Limits
	pb := &signerv1.Subscription{
		WorkspaceId: s.WorkspaceID, CustomerId: customerID, PlanId: s.PlanID, PlanVersion: int32(s.PlanVersion),
		State: statePB[s.State()], Seats: int64(s.Seats),
		Limits: &signerv1.LimitOverrides{
			GuestUsers: intPtr(o.GuestUsers), MonthlyActiveContacts: intPtr(o.MonthlyActiveContacts),
			PrivateApps: intPtr(o.PrivateApps), MarketplaceApps: intPtr(o.MarketplaceApps),
		},
		PeriodStart: tsPB(s.PeriodStart), PeriodEnd: optTSPB(s.PeriodEnd), AutoRenew: s.AutoRenew,
		CancelAtPeriodEnd: s.CancelAtPeriodEnd, GrantMethod: methodPB(s.GrantMethod), Seller: s.Seller,
		SuspendReason: s.SuspendReason, LapsesAt: optTSPB(s.LapsesAt), UpdatedAt: tsPB(s.UpdatedAt),
	}
	if s.State() == domain.StateSuspended {
		prior := s
		prior.Status = s.SuspendedStatus
		pb.SuspendedState = statePB[prior.State()]
	}
	return pb
}

// seats reads optional seats, refusing negative or absurd ones.
func seats(field string, v *int64) (*int, error) {
	if v == nil {
		return nil, nil
	}
	if *v < 0 || *v > domain.MaxSeats {
		return nil, validate.Field(field, "must be between 0 and %d, got %d", domain.MaxSeats, *v)
	}
	return new(int(*v)), nil
}

// overrides reads limit overrides, naming each bad one.
func overrides(pb *signerv1.LimitOverrides) (domain.LimitOverrides, error) {
	if pb == nil {
		return domain.LimitOverrides{}, nil
	}
	var errs []error
	get := func(name string, v *int64) *int {
		n, err := seats("limits."+name, v)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	o := domain.LimitOverrides{
		GuestUsers:            get("guest_users", pb.GuestUsers),
		MonthlyActiveContacts: get("monthly_active_contacts", pb.MonthlyActiveContacts),
		PrivateApps:           get("private_apps", pb.PrivateApps),
		MarketplaceApps:       get("marketplace_apps", pb.MarketplaceApps),
	}
	return o, errors.Join(errs...)
}

// timestamp reads an optional timestamp.
func timestamp(field string, ts *timestamppb.Timestamp) (*time.Time, error) {
	if ts == nil {
		return nil, nil
	}
	if err := ts.CheckValid(); err != nil {
		return nil, validate.Field(field, "not a valid time: %v", err)
	}
	t := ts.AsTime().UTC()
	if t.Year() < 2000 || t.Year() > 2200 {
		return nil, validate.Field(field, "%s is out of range", t.Format(time.RFC3339))
	}
	return &t, nil
}

// idempotency identifies a call by its key and a digest of the rest of the
// request, so the same key with any other field changed is another request.
func idempotency(method string, req interface {
	proto.Message
	GetIdempotencyKey() string
}) issuance.Idempotency {
	clone := proto.Clone(req)
	if fd := clone.ProtoReflect().Descriptor().Fields().ByName("idempotency_key"); fd != nil {
		clone.ProtoReflect().Clear(fd)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write(b)
	return issuance.Idempotency{Key: req.GetIdempotencyKey(), Method: method, Hash: h.Sum(nil)}
}

func entitlementPB(e issuance.Entitlement) *signerv1.Entitlement {
	doc := e.Document
	pb := &signerv1.Entitlement{
		Subscription: subscriptionPB(e.Subscription, e.Workspace.CustomerID),
		PlanName:     e.Plan.Name, Modules: slices.Clone(e.Plan.Modules), Trial: doc.Information.Trial,
		NotifyAdminsAt: docTime(doc.Information.NotifyAdminsAt), NotifyUsersAt: docTime(doc.Information.NotifyUsersAt),
		Support: &signerv1.SupportEntitlement{
			Plan: string(e.Support.Plan), Coverage: string(e.Support.Coverage),
			HighFirstResponseHours:   int32(e.Support.FirstResponseHours.High),
			MediumFirstResponseHours: int32(e.Support.FirstResponseHours.Medium),
			LowFirstResponseHours:    int32(e.Support.FirstResponseHours.Low),
		},
		LicenseSequence: e.LicenseSequence, LicenseId: e.LicenseID,
	}
	for _, p := range doc.Validation.ValidPeriods {
		pb.ValidPeriods = append(pb.ValidPeriods, &signerv1.ValidPeriod{
			ValidUntil: docTime(p.ValidUntil), InvalidBehavior: string(p.InvalidBehavior), Modules: slices.Clone(p.Modules),
		})
	}
	l := doc.Limits
	for _, k := range []struct {
		kind string
		ls   []license.Limit
	}{
		{"activeUsers", l.ActiveUsers}, {"guestUsers", l.GuestUsers}, {"roomsPerGuest", l.RoomsPerGuest},
		{"privateApps", l.PrivateApps}, {"marketplaceApps", l.MarketplaceApps}, {"monthlyActiveContacts", l.MonthlyActiveContacts},
	} {
		for _, x := range k.ls {
			pb.Limits = append(pb.Limits, &signerv1.EntitlementLimit{Kind: k.kind, Max: int64(x.Max), Behavior: string(x.Behavior), Modules: slices.Clone(x.Modules)})
		}
	}
	return pb
}

func docTime(s string) *timestamppb.Timestamp {
	if s == "" {
		return nil
	}
	t, err := license.ParseTime(s)
	if err != nil {
		return nil
	}
	return timestamppb.New(t)
}
