package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
)

// Issue is everything one license is made of.
type Issue struct {
	LicenseID    string
	Sequence     int64
	Workspace    Workspace
	Subscription Subscription
	// Plan is the subscription's plan at the subscription's version.
	Plan Plan
	// Address is the stripped site address to bind to; "" binds to none.
	Address string
	Now     time.Time
	// Offline licenses are pasted into air-gapped workspaces: flagged
	// offline, and they need no statistics report.
	Offline bool
	// TrialSupport is the support a trial carries (the default free plan's:
	// trial users get standard support); nil uses the plan's coverage and
	// targets under the standard support plan.
	TrialSupport *Support
	// SupportedVersions is the signed supported-versions document the
	// license embeds (PROTOCOL.md 7); nil embeds none.
	SupportedVersions json.RawMessage
}

// Support is a support entitlement (PROTOCOL.md 10).
type Support struct {
	Plan               SupportPlan
	Coverage           Coverage
	FirstResponseHours FirstResponse
}

// Support returns the support entitlement a plan's definition grants.
func (d Definition) Support() Support {
	return Support{Plan: d.SupportPlan, Coverage: d.Coverage, FirstResponseHours: d.FirstResponseHours}
}

// Support is the support entitlement of the license in.
func (in Issue) Support() Support {
	if !in.Subscription.Trial() {
		return in.Plan.Definition.Support()
	}
	if in.TrialSupport != nil {
		return *in.TrialSupport
	}
	s := in.Plan.Definition.Support()
	s.Plan = SupportStandard
	return s
}

// ValidUntil is when the license stops being valid: the end of the UTC day
// ValidDays from now for a free plan (a rolling validity that each renewal
// moves on), the subscription's period end for a paid plan or a trial.
func (in Issue) ValidUntil() (time.Time, error) {
	if in.Plan.Free {
		return EndOfUTCDay(in.Now.AddDate(0, 0, in.Plan.Definition.ValidDays)), nil
	}
	if in.Subscription.PeriodEnd == nil {
		return time.Time{}, errors.New("paid subscription without a period end")
	}
	return in.Subscription.PeriodEnd.UTC(), nil
}

// EndOfUTCDay is the last millisecond of t's UTC day, the finest instant a
// document time carries.
func EndOfUTCDay(t time.Time) time.Time { return versionpolicy.EndOfDay(t) }

// StartOfUTCDay is midnight UTC of t's UTC day.
func StartOfUTCDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Periods returns the license's valid periods: a trial is invalidated at its
// end; any other license fires each of its plan's end behaviours, the
// behaviour's grace days after the end.
func (in Issue) Periods(until time.Time) []license.Period {
	if in.Subscription.Trial() {
		return []license.Period{{ValidUntil: license.FormatTime(until), InvalidBehavior: license.BehaviorInvalidateLicense}}
	}
	rules := in.Plan.Definition.EndRules()
	out := make([]license.Period, len(rules))
	for i, r := range rules {
		out[i] = license.Period{
			ValidUntil:      license.FormatTime(until.AddDate(0, 0, r.GraceDays)),
			InvalidBehavior: r.Behavior,
			Modules:         slices.Clone(r.Modules),
		}
	}
	return out
}

// NotifyAt returns when admins and users start being warned of the end:
// midnight UTC of the day the notice's days before the last valid day
// ("" when the plan warns nobody).
func (in Issue) NotifyAt(until time.Time) (admins, users string) {
	var adminsDays, usersDays int
	if in.Subscription.Trial() {
		tr := in.Plan.Definition.TrialRules()
		adminsDays, usersDays = tr.AdminsDays, tr.UsersDays
	} else if n := in.Plan.Definition.NoticeRules(in.Plan.Free); n != nil {
		adminsDays, usersDays = n.AdminsDays, n.UsersDays
	} else {
		return "", ""
	}
	at := func(days int) string { return license.FormatTime(StartOfUTCDay(until.AddDate(0, 0, -days))) }
	return at(adminsDays), at(usersDays)
}

// Document builds the V3 license document of in. It does not validate it:
// license.Sign does, on the exact document it signs.
func (in Issue) Document() (*license.Document, error) {
	until, err := in.ValidUntil()
	if err != nil {
		return nil, err
	}
	def := in.Plan.Definition
	sub := in.Subscription
	var urls []license.ServerURL
	if in.Address != "" {
		urls = []license.ServerURL{{Value: in.Address, Type: license.URLTypeURL}}
	}
	stats := def.StatisticsReport
	if stats.AllowedStaleInDays != nil {
		stats.AllowedStaleInDays = new(*stats.AllowedStaleInDays)
	}
	if in.Offline {
		stats = license.StatisticsReport{Required: false}
	}
	info := license.Information{
		ID:        in.LicenseID,
		AutoRenew: def.AutoRenew,
		Trial:     sub.Trial(),
		Offline:   in.Offline,
		CreatedAt: license.FormatTime(in.Now),
		GrantedBy: in.grantedBy(),
	}
	if !in.Plan.Free {
		info.VisualExpiration = license.FormatTime(until)
		info.NotifyAdminsAt, info.NotifyUsersAt = in.NotifyAt(until)
		info.AutoRenew = sub.AutoRenew && !sub.CancelAtPeriodEnd && !sub.Trial()
		if !sub.Trial() {
			info.Cancellable = new(!sub.CancelAtPeriodEnd)
		}
	} else {
		info.NotifyAdminsAt, info.NotifyUsersAt = in.NotifyAt(until)
	}
	return &license.Document{
		Version:     license.Version,
		Information: info,
		Validation: license.Validation{
			ServerURLs:       urls,
			CloudWorkspaceID: in.Workspace.ID,
			ValidPeriods:     in.Periods(until),
			StatisticsReport: &stats,
		},
		GrantedModules: modules(in.Plan.Modules),
		Limits:         in.Limits(),
		CloudMeta: &license.CloudMeta{
			WorkspaceID: in.Workspace.ID,
			CustomerID:  in.Workspace.CustomerID,
			PlanID:      in.Plan.ID,
			PlanName:    in.Plan.Name,
			PlanVersion: in.Plan.Version,
			Sequence:    in.Sequence,
			SupportPlan: string(in.Support().Plan),
		},
		SupportedVersions: in.SupportedVersions,
	}, nil
}

// grantedBy is how the subscription was granted: self-service for the free
// plan, the subscription's method (manual when it names none) otherwise.
func (in Issue) grantedBy() license.GrantedBy {
	m := in.Subscription.GrantMethod
	switch {
	case in.Plan.Free:
		m = license.GrantedBySelfService
	case m == "":
		m = license.GrantedManually
	}
	return license.GrantedBy{Method: m, Seller: in.Subscription.Seller}
}

// Limits copies the plan's limits (the plan is shared; the document is not)
// and applies the seats and overrides a paid subscription bought. An override
// of a kind the plan does not limit adds a limit that prevents the action.
func (in Issue) Limits() license.Limits {
	src := in.Plan.Definition.Limits
	l := license.Limits{
		ActiveUsers:           cloneLimits(src.ActiveUsers),
		GuestUsers:            cloneLimits(src.GuestUsers),
		RoomsPerGuest:         cloneLimits(src.RoomsPerGuest),
		PrivateApps:           cloneLimits(src.PrivateApps),
		MarketplaceApps:       cloneLimits(src.MarketplaceApps),
		MonthlyActiveContacts: cloneLimits(src.MonthlyActiveContacts),
	}
	if in.Plan.Free {
		return l
	}
	o := in.Subscription.Limits
	if seats := in.Subscription.Seats; seats > 0 {
		override(&l.ActiveUsers, &seats)
	}
	override(&l.GuestUsers, o.GuestUsers)
	override(&l.MonthlyActiveContacts, o.MonthlyActiveContacts)
	override(&l.PrivateApps, o.PrivateApps)
	override(&l.MarketplaceApps, o.MarketplaceApps)
	return l
}

func override(ls *[]license.Limit, max *int) {
	if max == nil {
		return
	}
	if len(*ls) == 0 {
		*ls = []license.Limit{{Max: *max, Behavior: license.BehaviorPreventAction}}
		return
	}
	for i := range *ls {
		(*ls)[i].Max = *max
	}
}

func cloneLimits(ls []license.Limit) []license.Limit {
	if ls == nil {
		return nil
	}
	out := make([]license.Limit, len(ls))
	for i, l := range ls {
		out[i] = license.Limit{Max: l.Max, Behavior: l.Behavior, Modules: slices.Clone(l.Modules)}
	}
	return out
}
