package domain

import (
	"time"

	"github.com/cloudlicense/authority/pkg/license"
)

// freePlan and paidPlan mirror the seeded starter and pro plans, so the
// domain tests need no database.
func freePlan() Plan {
	return Plan{ID: "starter", Name: "Starter", Version: 1, Free: true, Definition: Definition{
		Limits: license.Limits{
			ActiveUsers:           []license.Limit{{Max: 50, Behavior: license.BehaviorPreventAction}},
			MonthlyActiveContacts: []license.Limit{{Max: 100, Behavior: license.BehaviorPreventAction}},
		},
		ValidDays:          30,
		StatisticsReport:   license.StatisticsReport{Required: true},
		SupportPlan:        SupportStandard,
		Coverage:           Coverage12x5,
		FirstResponseHours: FirstResponse{High: 24, Medium: 48, Low: 72},
		AutoRenew:          true,
	}}
}

func paidPlan() Plan {
	return Plan{ID: "enterprise", Name: "Enterprise", Version: 3, Free: false, Modules: []string{"auditing", "hide-watermark"}, Definition: Definition{
		Limits: license.Limits{
			ActiveUsers:           []license.Limit{{Max: 2000, Behavior: license.BehaviorStartFairPolicy}},
			MonthlyActiveContacts: []license.Limit{{Max: 10000, Behavior: license.BehaviorStartFairPolicy}},
		},
		TermDays:           365,
		StatisticsReport:   license.StatisticsReport{Required: true, AllowedStaleInDays: new(7)},
		SupportPlan:        SupportPlus,
		Coverage:           Coverage24x7,
		FirstResponseHours: FirstResponse{High: 4, Medium: 8, Low: 24},
		AutoRenew:          false,
	}}
}

var (
	now = time.Date(2025, 3, 10, 15, 4, 5, 123_000_000, time.UTC)
	ws  = Workspace{ID: "65f0c0ffee0123456789abcd", CustomerID: "cus_1", ClientName: "acme"}
)
