package domain

import (
	"testing"
	"time"
)

func TestLicenseServes(t *testing.T) {
	t.Parallel()
	free, paid := freePlan(), paidPlan()
	freeSub, paidSub := NewSubscription(ws, free, now), NewSubscription(ws, paid, now)
	freeUntil := EndOfUTCDay(now.AddDate(0, 0, 30))
	freeLic := License{PlanID: "starter", Address: "chat.example.com", ExpiresAt: &freeUntil}
	paidLic := License{PlanID: "enterprise", Address: "", ExpiresAt: paidSub.PeriodEnd}

	tests := []struct {
		name string
		lic  License
		addr string
		sub  Subscription
		plan Plan
		at   time.Time
		want bool
	}{
		{"no address keeps the binding", freeLic, "", freeSub, free, now, true},
		{"same address", freeLic, "chat.example.com", freeSub, free, now, true},
		{"another address", freeLic, "other.example.com", freeSub, free, now, false},
		{"first address of an unbound license", paidLic, "chat.example.com", paidSub, paid, now, false},
		{"unbound license, no address", paidLic, "", paidSub, paid, now, true},
		{"plan changed", freeLic, "", paidSub, paid, now, false},
		{"free, before half its validity", freeLic, "", freeSub, free, freeUntil.Add(-16 * 24 * time.Hour), true},
		{"free, past half its validity", freeLic, "", freeSub, free, freeUntil.Add(-15 * 24 * time.Hour), false},
		{"paid, near its period end", paidLic, "", paidSub, paid, paidSub.PeriodEnd.Add(-time.Hour), true},
	}
	for _, tt := range tests {
		if got := tt.lic.Serves(tt.addr, tt.sub, tt.plan, tt.at); got != tt.want {
			t.Errorf("%s: Serves = %v, want %v", tt.name, got, tt.want)
		}
	}
}
