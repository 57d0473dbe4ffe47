package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// Refused transitions of the subscription state machine. Each is a
// FAILED_PRECONDITION with its own reason at the boundary; nothing changes.
var (
	// ErrNoPaidSubscription: cancelling or renewing a workspace on the free
	// plan (also a subscription cancelled already).
	ErrNoPaidSubscription = errors.New("the workspace has no paid subscription")
	// ErrCancellationPending: cancelling at the period end twice.
	ErrCancellationPending = errors.New("the subscription is already cancelled at its period end")
	ErrNotTrialing         = errors.New("the workspace is not trialing")
	// ErrTrialNotAllowed: a trial starts only from the free plan.
	ErrTrialNotAllowed  = errors.New("a trial can start only on the free plan")
	ErrTrialAlreadyUsed = errors.New("the workspace already had a trial of this plan")
	// ErrSubscriptionSuspended: any change but reinstatement of a suspended
	// subscription.
	ErrSubscriptionSuspended = errors.New("the subscription is suspended")
	ErrAlreadySuspended      = errors.New("the subscription is already suspended")
	ErrNotSuspended          = errors.New("the subscription is not suspended")
	// ErrSupportNotSelfService: Plus and Mission Critical support are sold
	// only through sales, never self-service.
	ErrSupportNotSelfService = errors.New("plans with plus or mission-critical support cannot be granted self-service")
	// ErrNothingDue: the background loop found the subscription no longer
	// due (it was renewed or changed meanwhile).
	ErrNothingDue = errors.New("nothing due")
)

// Status is the stored status of a subscription.
type Status string

// Statuses.
const (
	StatusActive    Status = "active"
	StatusTrialing  Status = "trialing"
	StatusSuspended Status = "suspended"
)

// SubscriptionActive is StatusActive, under its first name.
const SubscriptionActive = StatusActive

// State is where a subscription is in its life, as callers see it.
type State string

// States.
const (
	StateFree      State = "free"
	StatePaid      State = "paid"
	StateTrialing  State = "trialing"
	StateSuspended State = "suspended"
)

// LimitOverrides replace the plan's maxima of one limit kind; nil keeps the
// plan's. Seats do the same for activeUsers.
type LimitOverrides struct {
	GuestUsers            *int `json:"guestUsers,omitempty"`
	MonthlyActiveContacts *int `json:"monthlyActiveContacts,omitempty"`
	PrivateApps           *int `json:"privateApps,omitempty"`
	MarketplaceApps       *int `json:"marketplaceApps,omitempty"`
}

// merge returns o with every override set in with replacing its own.
func (o LimitOverrides) merge(with LimitOverrides) LimitOverrides {
	pick := func(a, b *int) *int {
		if b != nil {
			return b
		}
		return a
	}
	return LimitOverrides{
		GuestUsers:            pick(o.GuestUsers, with.GuestUsers),
		MonthlyActiveContacts: pick(o.MonthlyActiveContacts, with.MonthlyActiveContacts),
		PrivateApps:           pick(o.PrivateApps, with.PrivateApps),
		MarketplaceApps:       pick(o.MarketplaceApps, with.MarketplaceApps),
	}
}

// MaxSeats bounds seats and limit overrides: anything larger is a typo.
const MaxSeats = 10_000_000

// Check names every override out of range, under field prefix.
func (o LimitOverrides) Check(prefix string) error {
	var errs []error
	for name, v := range map[string]*int{
		"guest_users": o.GuestUsers, "monthly_active_contacts": o.MonthlyActiveContacts,
		"private_apps": o.PrivateApps, "marketplace_apps": o.MarketplaceApps,
	} {
		if v != nil && (*v < 0 || *v > MaxSeats) {
			errs = append(errs, validate.Field(prefix+name, "must be between 0 and %d, got %d", MaxSeats, *v))
		}
	}
	return errors.Join(errs...)
}

// CheckSeats rejects negative or absurd seats.
func CheckSeats(field string, seats *int) error {
	if seats != nil && (*seats < 0 || *seats > MaxSeats) {
		return validate.Field(field, "must be between 0 and %d, got %d", MaxSeats, *seats)
	}
	return nil
}

// Subscription is the plan a workspace is on and what its licenses bind to.
type Subscription struct {
	WorkspaceID string
	PlanID      string
	PlanVersion int
	// Seats, when above 0, replace the plan's activeUsers maxima (paid plans).
	Seats       int
	Limits      LimitOverrides
	Status      Status
	PeriodStart time.Time
	// PeriodEnd is the last instant of the paid or trial period (the end of
	// its last UTC day); nil on the free plan, whose licenses have a rolling
	// validity instead.
	PeriodEnd *time.Time
	Address   string // stripped; "" until the workspace reports one
	AutoRenew bool
	// CancelAtPeriodEnd: the paid period ends without renewal, and the
	// workspace falls back to the free plan then.
	CancelAtPeriodEnd bool
	GrantMethod       license.GrantMethod
	Seller            string
	// SuspendedStatus is the status a suspension interrupted.
	SuspendedStatus Status
	SuspendReason   string
	// LapsesAt is when the background loop falls back to the free plan;
	// nil when nothing is due.
	LapsesAt  *time.Time
	UpdatedAt time.Time
}

// NewSubscription starts workspace ws on plan at now: a paid plan runs for
// its term, a free one has no end.
func NewSubscription(ws Workspace, plan Plan, now time.Time) Subscription {
	s := Subscription{WorkspaceID: ws.ID, PlanID: plan.ID, PlanVersion: plan.Version, Status: StatusActive, PeriodStart: now,
		AutoRenew: plan.Definition.AutoRenew, GrantMethod: license.GrantedBySelfService}
	if !plan.Free {
		end := PeriodEndAfter(now, plan.Definition.TermDays)
		s.PeriodEnd = &end
		s.GrantMethod = license.GrantedManually
		s.LapsesAt = s.lapse(plan)
	}
	return s
}

// PeriodEndAfter is the end of a period of days starting at start: the last
// millisecond of the UTC day days after start's day, so a customer who pays
// on the 10th for 30 days keeps the license through the whole 9th or 10th of
// the next month, never until some odd hour.
func PeriodEndAfter(start time.Time, days int) time.Time {
	return EndOfUTCDay(start.AddDate(0, 0, days))
}

// State returns where the subscription is in its life.
func (s Subscription) State() State {
	switch {
	case s.Status == StatusSuspended:
		return StateSuspended
	case s.Status == StatusTrialing:
		return StateTrialing
	case s.PeriodEnd == nil:
		return StateFree
	}
	return StatePaid
}

// Trial reports whether the subscription is a trial (or a suspended one).
func (s Subscription) Trial() bool {
	return s.Status == StatusTrialing || (s.Status == StatusSuspended && s.SuspendedStatus == StatusTrialing)
}

// lapse is when a subscription on plan falls back to the free plan: a
// trial, a cancelled or a not auto-renewing period at its end; an
// auto-renewing one once its last end behaviour has fired (billing renews it
// before then, or the license would be invalid anyway).
func (s Subscription) lapse(plan Plan) *time.Time {
	if s.PeriodEnd == nil {
		return nil
	}
	at := *s.PeriodEnd
	if s.Status == StatusActive && s.AutoRenew && !s.CancelAtPeriodEnd {
		at = at.AddDate(0, 0, plan.Definition.GraceDays())
	}
	return &at
}

// Effect is what a transition does to the workspace's licenses.
type Effect int

// Effects.
const (
	// EffectIssue issues a new license for the new subscription.
	EffectIssue Effect = iota + 1
	// EffectWithdraw withdraws the license (licensing.license.withdrawn.v1).
	EffectWithdraw
)

// Change is one lifecycle request, checked field by field at the boundary.
type Change interface {
	// Action names the change, for logs and idempotency records.
	Action() string
	apply(s Subscription, now time.Time) (Subscription, Effect, error)
}

// Apply runs change c on s at now and returns the new subscription and what
// must happen to the licenses, or why the change is refused (s unchanged).
func (s Subscription) Apply(c Change, now time.Time) (Subscription, Effect, error) {
	next, effect, err := c.apply(s, now)
	if err != nil {
		return s, 0, err
	}
	next.UpdatedAt = now
	return next, effect, nil
}

// Grant grants a paid plan or changes the paid subscription. Nil fields
// keep the current value on the same plan, or take the plan's default.
type Grant struct {
	Plan        Plan // the plan's current version
	Seats       *int
	Limits      LimitOverrides
	PeriodStart *time.Time
	PeriodEnd   *time.Time // any instant of the last paid day
	AutoRenew   *bool
	Method      license.GrantMethod // "": manual, or the current one
	Seller      string
}

// Action implements Change.
func (Grant) Action() string { return "grant" }

func (g Grant) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	if s.State() == StateSuspended {
		return s, 0, ErrSubscriptionSuspended
	}
	return g.grant(s, s.State() == StatePaid && s.PlanID == g.Plan.ID, now)
}

// grant is a grant, conversion or change; same says whether the current
// subscription's values are the defaults.
func (g Grant) grant(s Subscription, same bool, now time.Time) (Subscription, Effect, error) {
	p := g.Plan
	if p.Free {
		return s, 0, validate.Field("plan_id", "%q is a free plan: cancelling the subscription falls back to it", p.ID)
	}
	method := g.Method
	if method == "" {
		method = license.GrantedManually
		if same {
			method = s.GrantMethod
		}
	}
	if method == license.GrantedBySelfService && p.Definition.SupportPlan != SupportStandard {
		return s, 0, fmt.Errorf("%w: plan %q carries %s support", ErrSupportNotSelfService, p.ID, p.Definition.SupportPlan)
	}
	next := s
	next.PlanID, next.PlanVersion, next.Status = p.ID, p.Version, StatusActive
	next.GrantMethod, next.Seller = method, g.Seller
	next.SuspendedStatus, next.SuspendReason = "", ""
	if same && g.Seller == "" {
		next.Seller = s.Seller
	}
	if !same {
		next.Seats, next.Limits, next.CancelAtPeriodEnd, next.AutoRenew = 0, LimitOverrides{}, false, p.Definition.AutoRenew
		next.PeriodStart, next.PeriodEnd = now, nil
	}
	if g.Seats != nil {
		next.Seats = *g.Seats
	}
	next.Limits = next.Limits.merge(g.Limits)
	if g.AutoRenew != nil {
		next.AutoRenew = *g.AutoRenew
	}
	if g.PeriodStart != nil {
		next.PeriodStart = g.PeriodStart.UTC()
	}
	switch {
	case g.PeriodEnd != nil:
		end := EndOfUTCDay(*g.PeriodEnd)
		next.PeriodEnd = &end
	case next.PeriodEnd == nil || g.PeriodStart != nil:
		end := PeriodEndAfter(next.PeriodStart, p.Definition.TermDays)
		next.PeriodEnd = &end
	}
	if next.PeriodEnd.Before(next.PeriodStart) {
		return s, 0, validate.Field("period_end", "%s is before period_start %s", license.FormatTime(*next.PeriodEnd), license.FormatTime(next.PeriodStart))
	}
	if !next.PeriodEnd.After(now) {
		return s, 0, validate.Field("period_end", "%s has passed already", license.FormatTime(*next.PeriodEnd))
	}
	next.LapsesAt = next.lapse(p)
	return next, EffectIssue, nil
}

// StartTrial starts a trial of a paid plan.
type StartTrial struct {
	Plan Plan // the plan's current version
	// Days: 0 for the plan's trial length.
	Days int
	// UsedBefore says the workspace had a trial of this plan already, which
	// Override (support's) allows again.
	UsedBefore bool
	Override   bool
	Method     license.GrantMethod // "": self-service
}

// Action implements Change.
func (StartTrial) Action() string { return "start-trial" }

func (t StartTrial) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	switch s.State() {
	case StateSuspended:
		return s, 0, ErrSubscriptionSuspended
	case StateFree:
	default:
		return s, 0, fmt.Errorf("%w (the workspace is %s)", ErrTrialNotAllowed, s.State())
	}
	if t.Plan.Free {
		return s, 0, validate.Field("plan_id", "%q is a free plan, which has no trial", t.Plan.ID)
	}
	if t.UsedBefore && !t.Override {
		return s, 0, fmt.Errorf("%w (%s)", ErrTrialAlreadyUsed, t.Plan.ID)
	}
	days := t.Days
	if days == 0 {
		days = t.Plan.Definition.TrialRules().Days
	}
	method := t.Method
	if method == "" {
		method = license.GrantedBySelfService
	}
	end := PeriodEndAfter(now, days)
	next := s
	next.PlanID, next.PlanVersion, next.Status = t.Plan.ID, t.Plan.Version, StatusTrialing
	next.Seats, next.Limits, next.PeriodStart, next.PeriodEnd = 0, LimitOverrides{}, now, &end
	next.AutoRenew, next.CancelAtPeriodEnd, next.GrantMethod, next.Seller = false, false, method, ""
	next.LapsesAt = next.lapse(t.Plan)
	return next, EffectIssue, nil
}

// ExtendTrial moves a running trial's end: by Days from the current end, or
// to Until.
type ExtendTrial struct {
	Days  int
	Until *time.Time
}

// Action implements Change.
func (ExtendTrial) Action() string { return "extend-trial" }

func (x ExtendTrial) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	switch s.State() {
	case StateSuspended:
		return s, 0, ErrSubscriptionSuspended
	case StateTrialing:
	default:
		return s, 0, ErrNotTrialing
	}
	var end time.Time
	switch {
	case x.Until != nil && x.Days != 0:
		return s, 0, validate.Field("until", "give days or until, not both")
	case x.Until != nil:
		end = EndOfUTCDay(*x.Until)
	case x.Days > 0:
		end = EndOfUTCDay(s.PeriodEnd.AddDate(0, 0, x.Days))
	default:
		return s, 0, validate.Field("days", "required (days > 0, or until)")
	}
	if !end.After(*s.PeriodEnd) {
		return s, 0, validate.Field("until", "%s is not after the current trial end %s", license.FormatTime(end), license.FormatTime(*s.PeriodEnd))
	}
	if end.After(PeriodEndAfter(s.PeriodStart, 2*MaxTrialDays)) {
		return s, 0, validate.Field("until", "a trial runs at most %d days", 2*MaxTrialDays)
	}
	next := s
	next.PeriodEnd = &end
	next.LapsesAt = &end
	return next, EffectIssue, nil
}

// ConvertTrial turns the running trial into the paid subscription of its
// plan.
type ConvertTrial struct {
	Plan      Plan // the current version of the trial's plan
	Seats     *int
	Limits    LimitOverrides
	PeriodEnd *time.Time
	AutoRenew *bool
	Method    license.GrantMethod
	Seller    string
}

// Action implements Change.
func (ConvertTrial) Action() string { return "convert-trial" }

func (c ConvertTrial) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	switch s.State() {
	case StateSuspended:
		return s, 0, ErrSubscriptionSuspended
	case StateTrialing:
	default:
		return s, 0, ErrNotTrialing
	}
	if c.Plan.ID != s.PlanID {
		return s, 0, fmt.Errorf("convert trial of %q with plan %q: %w", s.PlanID, c.Plan.ID, ErrPlanNotFound)
	}
	g := Grant{Plan: c.Plan, Seats: c.Seats, Limits: c.Limits, PeriodEnd: c.PeriodEnd, AutoRenew: c.AutoRenew, Method: c.Method, Seller: c.Seller}
	return g.grant(s, false, now)
}

// Renew extends a paid period: by the plan's term from the current end, or
// to PeriodEnd. It clears a pending cancellation.
type Renew struct {
	Plan      Plan // the current version of the subscription's plan
	PeriodEnd *time.Time
}

// Action implements Change.
func (Renew) Action() string { return "renew" }

func (r Renew) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	switch s.State() {
	case StateSuspended:
		return s, 0, ErrSubscriptionSuspended
	case StatePaid:
	default:
		return s, 0, fmt.Errorf("%w (the workspace is %s)", ErrNoPaidSubscription, s.State())
	}
	end := PeriodEndAfter(*s.PeriodEnd, r.Plan.Definition.TermDays)
	if r.PeriodEnd != nil {
		end = EndOfUTCDay(*r.PeriodEnd)
	}
	if !end.After(*s.PeriodEnd) {
		return s, 0, validate.Field("period_end", "%s is not after the current period end %s", license.FormatTime(end), license.FormatTime(*s.PeriodEnd))
	}
	next := s
	next.PlanVersion = r.Plan.Version
	next.PeriodEnd = &end
	next.CancelAtPeriodEnd = false
	next.LapsesAt = next.lapse(r.Plan)
	return next, EffectIssue, nil
}

// Cancel ends a paid subscription or a trial, now (falling back to Free, the
// default plan) or at the period end.
type Cancel struct {
	AtPeriodEnd bool
	Free        Plan
}

// Action implements Change.
func (Cancel) Action() string { return "cancel" }

func (c Cancel) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	switch s.State() {
	case StateSuspended:
		return s, 0, ErrSubscriptionSuspended
	case StateFree:
		return s, 0, ErrNoPaidSubscription
	}
	if !c.AtPeriodEnd {
		return s.fallback(c.Free, now), EffectIssue, nil
	}
	if s.CancelAtPeriodEnd {
		return s, 0, ErrCancellationPending
	}
	next := s
	next.CancelAtPeriodEnd, next.AutoRenew = true, false
	next.LapsesAt = next.PeriodEnd
	return next, EffectIssue, nil
}

// fallback is s moved to the free plan: what cancellation and expiry leave.
func (s Subscription) fallback(free Plan, now time.Time) Subscription {
	return Subscription{
		WorkspaceID: s.WorkspaceID, PlanID: free.ID, PlanVersion: free.Version, Status: StatusActive, PeriodStart: now,
		Address: s.Address, AutoRenew: free.Definition.AutoRenew, GrantMethod: license.GrantedBySelfService,
	}
}

// Suspend withdraws the workspace's license until Reinstate.
type Suspend struct{ Reason string }

// Action implements Change.
func (Suspend) Action() string { return "suspend" }

func (x Suspend) apply(s Subscription, _ time.Time) (Subscription, Effect, error) {
	if s.State() == StateSuspended {
		return s, 0, ErrAlreadySuspended
	}
	next := s
	next.SuspendedStatus, next.Status, next.SuspendReason = s.Status, StatusSuspended, x.Reason
	return next, EffectWithdraw, nil
}

// Reinstate returns a suspended subscription to the status it was suspended
// in. A period that ended meanwhile lapses on the loop's next pass.
type Reinstate struct{}

// Action implements Change.
func (Reinstate) Action() string { return "reinstate" }

func (Reinstate) apply(s Subscription, _ time.Time) (Subscription, Effect, error) {
	if s.State() != StateSuspended {
		return s, 0, ErrNotSuspended
	}
	next := s
	next.Status, next.SuspendedStatus, next.SuspendReason = s.SuspendedStatus, "", ""
	if next.Status == "" {
		next.Status = StatusActive
	}
	return next, EffectIssue, nil
}

// Lapse is the background loop's change: a trial or period that ended falls
// back to Free.
type Lapse struct{ Free Plan }

// Action implements Change.
func (Lapse) Action() string { return "lapse" }

func (l Lapse) apply(s Subscription, now time.Time) (Subscription, Effect, error) {
	if s.State() == StateSuspended || s.State() == StateFree || s.LapsesAt == nil || s.LapsesAt.After(now) {
		return s, 0, ErrNothingDue
	}
	return s.fallback(l.Free, now), EffectIssue, nil
}
