package domain

import (
	"errors"
	"slices"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
)

// Issue is everything one license is made of.
type Issue struct {
	LicenseID    string
	Sequence     int64
	Workspace    Workspace
	Subscription Subscription
	Plan         Plan
	// Address is the stripped site address to bind to; "" binds to none.
	Address string
	Now     time.Time
}

// ValidUntil is when the license stops being valid: the end of the UTC day
// ValidDays from now for a free plan (a rolling validity that each renewal
// moves on), the subscription's period end for a paid one.
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
func EndOfUTCDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(-time.Millisecond)
}

// Document builds the V3 license document of in. It does not validate it:
// license.Sign does, on the exact document it signs.
func (in Issue) Document() (*license.Document, error) {
	until, err := in.ValidUntil()
	if err != nil {
		return nil, err
	}
	def := in.Plan.Definition
	method := license.GrantedManually
	if in.Plan.Free {
		method = license.GrantedBySelfService
	}
	var urls []license.ServerURL
	if in.Address != "" {
		urls = []license.ServerURL{{Value: in.Address, Type: license.URLTypeURL}}
	}
	stats := def.StatisticsReport
	if stats.AllowedStaleInDays != nil {
		stats.AllowedStaleInDays = new(*stats.AllowedStaleInDays)
	}
	return &license.Document{
		Version: license.Version,
		Information: license.Information{
			ID:        in.LicenseID,
			AutoRenew: def.AutoRenew,
			Trial:     false,
			Offline:   false,
			CreatedAt: license.FormatTime(in.Now),
			GrantedBy: license.GrantedBy{Method: method},
		},
		Validation: license.Validation{
			ServerURLs:       urls,
			CloudWorkspaceID: in.Workspace.ID,
			ValidPeriods: []license.Period{{
				ValidUntil:      license.FormatTime(until),
				InvalidBehavior: license.BehaviorInvalidateLicense,
			}},
			StatisticsReport: &stats,
		},
		GrantedModules: modules(in.Plan.Modules),
		Limits:         in.limits(),
		CloudMeta: &license.CloudMeta{
			WorkspaceID: in.Workspace.ID,
			CustomerID:  in.Workspace.CustomerID,
			PlanID:      in.Plan.ID,
			PlanName:    in.Plan.Name,
			PlanVersion: in.Plan.Version,
			Sequence:    in.Sequence,
			SupportPlan: string(def.SupportPlan),
		},
	}, nil
}

// limits copies the plan's limits (the plan is shared; the document is not)
// and applies the seats a paid subscription bought.
func (in Issue) limits() license.Limits {
	src := in.Plan.Definition.Limits
	l := license.Limits{
		ActiveUsers:           cloneLimits(src.ActiveUsers),
		GuestUsers:            cloneLimits(src.GuestUsers),
		RoomsPerGuest:         cloneLimits(src.RoomsPerGuest),
		PrivateApps:           cloneLimits(src.PrivateApps),
		MarketplaceApps:       cloneLimits(src.MarketplaceApps),
		MonthlyActiveContacts: cloneLimits(src.MonthlyActiveContacts),
	}
	if seats := in.Subscription.Seats; seats > 0 && !in.Plan.Free {
		for i := range l.ActiveUsers {
			l.ActiveUsers[i].Max = seats
		}
	}
	return l
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
