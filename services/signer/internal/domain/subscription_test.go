package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// proPlan is a paid plan with standard support, so self-service may buy it.
func proPlan() Plan {
	p := paidPlan()
	p.ID, p.Name, p.Version = "pro", "Pro", 2
	p.Definition.SupportPlan, p.Definition.Coverage = SupportStandard, Coverage12x5
	p.Definition.AutoRenew = true
	p.Definition.EndBehaviors = []EndBehavior{
		{GraceDays: 0, Behavior: license.BehaviorStartFairPolicy},
		{GraceDays: 15, Behavior: license.BehaviorInvalidateLicense},
	}
	return p
}

// subscriptions in every state, at now.
func subscriptionsByName() map[string]Subscription {
	free := NewSubscription(ws, freePlan(), now.AddDate(0, -1, 0))
	paid, _, err := free.Apply(Grant{Plan: proPlan()}, now.AddDate(0, -1, 0))
	if err != nil {
		panic(err)
	}
	cancelling := paid
	cancelling.CancelAtPeriodEnd, cancelling.AutoRenew, cancelling.LapsesAt = true, false, paid.PeriodEnd
	trialing, _, err := free.Apply(StartTrial{Plan: proPlan()}, now.AddDate(0, 0, -3))
	if err != nil {
		panic(err)
	}
	suspendedPaid, _, _ := paid.Apply(Suspend{Reason: "fraud"}, now)
	suspendedTrial, _, _ := trialing.Apply(Suspend{Reason: "abuse"}, now)
	return map[string]Subscription{
		"free": free, "paid": paid, "cancelling": cancelling, "trialing": trialing,
		"suspended-paid": suspendedPaid, "suspended-trial": suspendedTrial,
	}
}

// TestStateMachine runs every change from every state: each either moves the
// subscription to the expected state with the expected effect on licenses,
// or is refused with the expected error and leaves it unchanged.
func TestStateMachine(t *testing.T) {
	t.Parallel()
	free := freePlan()
	pro := proPlan()
	changes := map[string]Change{
		"grant":            Grant{Plan: pro, Seats: new(80)},
		"start-trial":      StartTrial{Plan: pro},
		"extend-trial":     ExtendTrial{Days: 10},
		"convert-trial":    ConvertTrial{Plan: pro, Seats: new(20)},
		"renew":            Renew{Plan: pro},
		"cancel-now":       Cancel{Free: free},
		"cancel-at-end":    Cancel{AtPeriodEnd: true, Free: free},
		"suspend":          Suspend{Reason: "chargeback"},
		"reinstate":        Reinstate{},
		"lapse-before-due": Lapse{Free: free},
	}
	type want struct {
		state  State
		effect Effect
		err    error
	}
	ok := func(s State, e Effect) want { return want{state: s, effect: e} }
	refused := func(err error) want { return want{err: err} }
	table := map[string]map[string]want{
		"free": {
			"grant": ok(StatePaid, EffectIssue), "start-trial": ok(StateTrialing, EffectIssue),
			"extend-trial": refused(ErrNotTrialing), "convert-trial": refused(ErrNotTrialing),
			"renew": refused(ErrNoPaidSubscription), "cancel-now": refused(ErrNoPaidSubscription),
			"cancel-at-end": refused(ErrNoPaidSubscription), "suspend": ok(StateSuspended, EffectWithdraw),
			"reinstate": refused(ErrNotSuspended), "lapse-before-due": refused(ErrNothingDue),
		},
		"paid": {
			"grant": ok(StatePaid, EffectIssue), "start-trial": refused(ErrTrialNotAllowed),
			"extend-trial": refused(ErrNotTrialing), "convert-trial": refused(ErrNotTrialing),
			"renew": ok(StatePaid, EffectIssue), "cancel-now": ok(StateFree, EffectIssue),
			"cancel-at-end": ok(StatePaid, EffectIssue), "suspend": ok(StateSuspended, EffectWithdraw),
			"reinstate": refused(ErrNotSuspended), "lapse-before-due": refused(ErrNothingDue),
		},
		"cancelling": {
			"grant": ok(StatePaid, EffectIssue), "start-trial": refused(ErrTrialNotAllowed),
			"extend-trial": refused(ErrNotTrialing), "convert-trial": refused(ErrNotTrialing),
			"renew": ok(StatePaid, EffectIssue), "cancel-now": ok(StateFree, EffectIssue),
			"cancel-at-end": refused(ErrCancellationPending), "suspend": ok(StateSuspended, EffectWithdraw),
			"reinstate": refused(ErrNotSuspended), "lapse-before-due": refused(ErrNothingDue),
		},
		"trialing": {
			"grant": ok(StatePaid, EffectIssue), "start-trial": refused(ErrTrialNotAllowed),
			"extend-trial": ok(StateTrialing, EffectIssue), "convert-trial": ok(StatePaid, EffectIssue),
			"renew": refused(ErrNoPaidSubscription), "cancel-now": ok(StateFree, EffectIssue),
			"cancel-at-end": ok(StateTrialing, EffectIssue), "suspend": ok(StateSuspended, EffectWithdraw),
			"reinstate": refused(ErrNotSuspended), "lapse-before-due": refused(ErrNothingDue),
		},
		"suspended-paid": {
			"grant": refused(ErrSubscriptionSuspended), "start-trial": refused(ErrSubscriptionSuspended),
			"extend-trial": refused(ErrSubscriptionSuspended), "convert-trial": refused(ErrSubscriptionSuspended),
			"renew": refused(ErrSubscriptionSuspended), "cancel-now": refused(ErrSubscriptionSuspended),
			"cancel-at-end": refused(ErrSubscriptionSuspended), "suspend": refused(ErrAlreadySuspended),
			"reinstate": ok(StatePaid, EffectIssue), "lapse-before-due": refused(ErrNothingDue),
		},
		"suspended-trial": {
			"grant": refused(ErrSubscriptionSuspended), "start-trial": refused(ErrSubscriptionSuspended),
			"extend-trial": refused(ErrSubscriptionSuspended), "convert-trial": refused(ErrSubscriptionSuspended),
			"renew": refused(ErrSubscriptionSuspended), "cancel-now": refused(ErrSubscriptionSuspended),
			"cancel-at-end": refused(ErrSubscriptionSuspended), "suspend": refused(ErrAlreadySuspended),
			"reinstate": ok(StateTrialing, EffectIssue), "lapse-before-due": refused(ErrNothingDue),
		},
	}
	subs := subscriptionsByName()
	for from, row := range table {
		if len(row) != len(changes) {
			t.Fatalf("%s: %d transitions in the table, want one per change (%d)", from, len(row), len(changes))
		}
		for name, w := range row {
			t.Run(from+"/"+name, func(t *testing.T) {
				t.Parallel()
				s := subs[from]
				got, effect, err := s.Apply(changes[name], now)
				if w.err != nil {
					if !errors.Is(err, w.err) {
						t.Fatalf("error = %v, want %v", err, w.err)
					}
					if got.State() != s.State() || got.PlanID != s.PlanID || got.UpdatedAt != s.UpdatedAt {
						t.Errorf("a refused change changed the subscription: %+v", got)
					}
					return
				}
				if err != nil {
					t.Fatalf("error = %v, want state %s", err, w.state)
				}
				if got.State() != w.state || effect != w.effect {
					t.Errorf("state %s effect %d, want %s %d", got.State(), effect, w.state, w.effect)
				}
				if !got.UpdatedAt.Equal(now) || got.WorkspaceID != ws.ID {
					t.Errorf("updated %v workspace %q", got.UpdatedAt, got.WorkspaceID)
				}
			})
		}
	}
}

func TestLapseWhenDue(t *testing.T) {
	t.Parallel()
	subs := subscriptionsByName()
	for _, name := range []string{"paid", "cancelling", "trialing"} {
		s := subs[name]
		got, effect, err := s.Apply(Lapse{Free: freePlan()}, s.LapsesAt.Add(time.Millisecond))
		if err != nil || got.State() != StateFree || effect != EffectIssue || got.PlanID != "starter" || got.PeriodEnd != nil || got.LapsesAt != nil {
			t.Errorf("%s lapsing: %+v effect %d, %v", name, got, effect, err)
		}
	}
	// Suspended subscriptions wait for reinstatement, whatever their date.
	s := subs["suspended-paid"]
	if _, _, err := s.Apply(Lapse{Free: freePlan()}, s.LapsesAt.AddDate(1, 0, 0)); !errors.Is(err, ErrNothingDue) {
		t.Errorf("a suspended subscription lapsed: %v", err)
	}
}

func TestLapsesAt(t *testing.T) {
	t.Parallel()
	subs := subscriptionsByName()
	paid := subs["paid"]
	// Auto-renewing: billing has until the last end behaviour (15 days) to renew.
	if want := paid.PeriodEnd.AddDate(0, 0, 15); !paid.LapsesAt.Equal(want) {
		t.Errorf("auto-renewing paid lapses at %v, want %v", paid.LapsesAt, want)
	}
	noRenew, _, err := paid.Apply(Grant{Plan: proPlan(), AutoRenew: new(false)}, now)
	if err != nil || !noRenew.LapsesAt.Equal(*noRenew.PeriodEnd) {
		t.Errorf("not auto-renewing lapses at %v, want the period end %v (%v)", noRenew.LapsesAt, noRenew.PeriodEnd, err)
	}
	if tr := subs["trialing"]; !tr.LapsesAt.Equal(*tr.PeriodEnd) {
		t.Errorf("trial lapses at %v, want its end %v", tr.LapsesAt, tr.PeriodEnd)
	}
}

func TestGrantDefaultsAndChanges(t *testing.T) {
	t.Parallel()
	pro := proPlan()
	free := NewSubscription(ws, freePlan(), now)
	paid, _, err := free.Apply(Grant{Plan: pro, Method: license.GrantedBySales, Seller: "Acme Reseller"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if paid.PlanVersion != 2 || paid.Seats != 0 || !paid.PeriodStart.Equal(now) || !paid.PeriodEnd.Equal(PeriodEndAfter(now, 365)) ||
		!paid.AutoRenew || paid.GrantMethod != license.GrantedBySales || paid.Seller != "Acme Reseller" {
		t.Errorf("grant defaults: %+v", paid)
	}
	// A change of seats keeps everything else.
	more, _, err := paid.Apply(Grant{Plan: pro, Seats: new(150), Limits: LimitOverrides{GuestUsers: new(10)}}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if more.Seats != 150 || *more.Limits.GuestUsers != 10 || !more.PeriodEnd.Equal(*paid.PeriodEnd) || !more.PeriodStart.Equal(paid.PeriodStart) ||
		more.GrantMethod != license.GrantedBySales || more.Seller != "Acme Reseller" {
		t.Errorf("seat change: %+v", more)
	}
	// The next change keeps the guests override and the seats.
	again, _, _ := more.Apply(Grant{Plan: pro, Limits: LimitOverrides{MonthlyActiveContacts: new(500)}}, now.Add(2*time.Hour))
	if again.Seats != 150 || *again.Limits.GuestUsers != 10 || *again.Limits.MonthlyActiveContacts != 500 {
		t.Errorf("second change: %+v", again)
	}
	// An explicit end is the end of its UTC day.
	end := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	dated, _, err := paid.Apply(Grant{Plan: pro, PeriodEnd: &end}, now)
	if err != nil || dated.PeriodEnd.Format(time.RFC3339Nano) != "2026-06-30T23:59:59.999Z" {
		t.Errorf("explicit end: %v, %v", dated.PeriodEnd, err)
	}
}

func TestRefusedInputsNameTheField(t *testing.T) {
	t.Parallel()
	subs := subscriptionsByName()
	before := now.AddDate(0, 0, -10)
	past := now.AddDate(0, 0, -1)
	start := now.AddDate(0, 1, 0)
	tests := []struct {
		name  string
		from  string
		c     Change
		field string
	}{
		{"end before start", "free", Grant{Plan: proPlan(), PeriodStart: &start, PeriodEnd: &before}, "period_end"},
		{"end passed", "free", Grant{Plan: proPlan(), PeriodEnd: &past}, "period_end"},
		{"grant a free plan", "free", Grant{Plan: freePlan()}, "plan_id"},
		{"trial of a free plan", "free", StartTrial{Plan: freePlan()}, "plan_id"},
		{"extend by nothing", "trialing", ExtendTrial{}, "days"},
		{"extend backwards", "trialing", ExtendTrial{Until: &before}, "until"},
		{"extend both ways", "trialing", ExtendTrial{Days: 3, Until: &start}, "until"},
		{"renew backwards", "paid", Renew{Plan: proPlan(), PeriodEnd: &past}, "period_end"},
	}
	for _, tt := range tests {
		_, _, err := subs[tt.from].Apply(tt.c, now)
		fields := validate.Fields(err)
		if len(fields) != 1 || fields[0].Field != tt.field {
			t.Errorf("%s: %v, want a field error on %s", tt.name, err, tt.field)
		}
	}
	if err := CheckSeats("seats", new(-1)); len(validate.Fields(err)) != 1 {
		t.Errorf("negative seats: %v", err)
	}
	if err := (LimitOverrides{GuestUsers: new(-5)}).Check("limits."); len(validate.Fields(err)) != 1 || validate.Fields(err)[0].Field != "limits.guest_users" {
		t.Errorf("negative guests: %v", err)
	}
}

func TestSelfServiceSupport(t *testing.T) {
	t.Parallel()
	free := NewSubscription(ws, freePlan(), now)
	// paidPlan carries plus support: sales only.
	if _, _, err := free.Apply(Grant{Plan: paidPlan(), Method: license.GrantedBySelfService}, now); !errors.Is(err, ErrSupportNotSelfService) {
		t.Errorf("self-service grant of plus support: %v", err)
	}
	if _, _, err := free.Apply(Grant{Plan: paidPlan(), Method: license.GrantedBySales}, now); err != nil {
		t.Errorf("sales grant of plus support: %v", err)
	}
	mc := paidPlan()
	mc.Definition.SupportPlan = SupportMissionCritical
	if _, _, err := free.Apply(Grant{Plan: mc, Method: license.GrantedBySelfService}, now); !errors.Is(err, ErrSupportNotSelfService) {
		t.Errorf("self-service grant of mission-critical support: %v", err)
	}
	if _, _, err := free.Apply(Grant{Plan: proPlan(), Method: license.GrantedBySelfService}, now); err != nil {
		t.Errorf("self-service grant of standard support: %v", err)
	}
}

func TestTrials(t *testing.T) {
	t.Parallel()
	free := NewSubscription(ws, freePlan(), now)
	pro := proPlan()
	if _, _, err := free.Apply(StartTrial{Plan: pro, UsedBefore: true}, now); !errors.Is(err, ErrTrialAlreadyUsed) {
		t.Errorf("second trial: %v", err)
	}
	tr, _, err := free.Apply(StartTrial{Plan: pro, UsedBefore: true, Override: true}, now)
	if err != nil {
		t.Fatalf("second trial with the support override: %v", err)
	}
	if !tr.Trial() || tr.PeriodEnd.Format(time.RFC3339Nano) != "2025-04-09T23:59:59.999Z" || tr.AutoRenew || tr.GrantMethod != license.GrantedBySelfService {
		t.Errorf("trial: %+v (end %v)", tr, tr.PeriodEnd)
	}
	short, _, _ := free.Apply(StartTrial{Plan: pro, Days: 7}, now)
	if short.PeriodEnd.Format(time.RFC3339Nano) != "2025-03-17T23:59:59.999Z" {
		t.Errorf("7-day trial ends %v", short.PeriodEnd)
	}
	longer, _, err := tr.Apply(ExtendTrial{Days: 14}, now)
	if err != nil || longer.PeriodEnd.Format(time.RFC3339Nano) != "2025-04-23T23:59:59.999Z" || !longer.LapsesAt.Equal(*longer.PeriodEnd) {
		t.Errorf("extended trial: %v, %v", longer.PeriodEnd, err)
	}
	paid, _, err := longer.Apply(ConvertTrial{Plan: pro, Seats: new(25)}, now)
	if err != nil || paid.Trial() || paid.Seats != 25 || !paid.PeriodStart.Equal(now) || paid.GrantMethod != license.GrantedManually {
		t.Errorf("converted: %+v, %v", paid, err)
	}
}

func TestSuspendAndReinstateKeepTheSubscription(t *testing.T) {
	t.Parallel()
	paid := subscriptionsByName()["paid"]
	s, effect, err := paid.Apply(Suspend{Reason: "chargeback"}, now)
	if err != nil || effect != EffectWithdraw || s.SuspendReason != "chargeback" || s.SuspendedStatus != StatusActive {
		t.Fatalf("suspended: %+v, %v", s, err)
	}
	back, effect, err := s.Apply(Reinstate{}, now)
	if err != nil || effect != EffectIssue || back.Status != StatusActive || back.SuspendReason != "" || back.Seats != paid.Seats ||
		!back.PeriodEnd.Equal(*paid.PeriodEnd) || !back.LapsesAt.Equal(*paid.LapsesAt) {
		t.Errorf("reinstated: %+v, %v", back, err)
	}
}
