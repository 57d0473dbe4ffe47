package domain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
)

func TestDocumentFreePlanWithoutAddress(t *testing.T) {
	t.Parallel()
	plan := freePlan()
	in := Issue{LicenseID: "lic_1", Sequence: 1, Workspace: ws, Subscription: NewSubscription(ws, plan, now), Plan: plan, Now: now}
	doc, err := in.Document()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := &license.Document{
		Version: "3.0",
		Information: license.Information{
			ID: "lic_1", AutoRenew: true, CreatedAt: "2025-03-10T15:04:05.123Z",
			GrantedBy: license.GrantedBy{Method: license.GrantedBySelfService},
		},
		Validation: license.Validation{
			CloudWorkspaceID: ws.ID,
			// The end of the UTC day 30 days on.
			ValidPeriods:     []license.Period{{ValidUntil: "2025-04-09T23:59:59.999Z", InvalidBehavior: license.BehaviorInvalidateLicense}},
			StatisticsReport: &license.StatisticsReport{Required: true},
		},
		GrantedModules: []license.Module{},
		Limits:         plan.Definition.Limits,
		CloudMeta: &license.CloudMeta{
			WorkspaceID: ws.ID, CustomerID: "cus_1", PlanID: "starter", PlanName: "Starter", PlanVersion: 1, Sequence: 1, SupportPlan: "standard",
		},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("document:\n got %+v\nwant %+v", doc, want)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// A workspace iterates these lists: they must be present, and empty.
	for _, member := range []string{`"serverUrls":[]`, `"grantedModules":[]`, `"trial":false`, `"offline":false`} {
		if !strings.Contains(string(raw), member) {
			t.Errorf("document JSON lacks %s: %s", member, raw)
		}
	}
}

func TestDocumentPaidPlanWithAddressAndSeats(t *testing.T) {
	t.Parallel()
	plan := paidPlan()
	sub := NewSubscription(ws, plan, now)
	sub.Seats = 750
	in := Issue{LicenseID: "lic_2", Sequence: 4, Workspace: ws, Subscription: sub, Plan: plan, Address: "chat.example.com", Now: now}
	doc, err := in.Document()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := doc.Information.GrantedBy.Method; got != license.GrantedManually {
		t.Errorf("grantedBy.method = %q, want manual", got)
	}
	if doc.Information.AutoRenew {
		t.Error("autoRenew = true, want the plan's false")
	}
	if got, want := doc.Validation.ServerURLs, []license.ServerURL{{Value: "chat.example.com", Type: license.URLTypeURL}}; !reflect.DeepEqual(got, want) {
		t.Errorf("serverUrls = %v, want %v", got, want)
	}
	if !doc.MatchesAddress("https://Chat.Example.com/") {
		t.Error("document does not match the address it was bound to")
	}
	// The period ends at the end of the paid day a term after the start.
	if got, want := doc.Validation.ValidPeriods[0].ValidUntil, "2026-03-10T23:59:59.999Z"; got != want {
		t.Errorf("validUntil = %s, want the period end %s", got, want)
	}
	if got := doc.Limits.ActiveUsers[0]; got.Max != 750 || got.Behavior != license.BehaviorStartFairPolicy {
		t.Errorf("activeUsers = %+v, want the 750 seats with the plan's behaviour", got)
	}
	if plan.Definition.Limits.ActiveUsers[0].Max != 2000 {
		t.Error("seats changed the shared plan's limits")
	}
	if got := doc.Validation.StatisticsReport.AllowedStaleInDays; got == nil || *got != 7 || got == plan.Definition.StatisticsReport.AllowedStaleInDays {
		t.Errorf("allowedStaleInDays = %v, want a copy of 7", got)
	}
	if got := []license.Module{{Module: "auditing"}, {Module: "hide-watermark"}}; !reflect.DeepEqual(doc.GrantedModules, got) {
		t.Errorf("grantedModules = %v, want %v", doc.GrantedModules, got)
	}
	if m := doc.CloudMeta; m.PlanVersion != 3 || m.Sequence != 4 || m.SupportPlan != "plus" {
		t.Errorf("cloudMeta = %+v", m)
	}
}

func TestDocumentPaidPlanNeedsPeriodEnd(t *testing.T) {
	t.Parallel()
	plan := paidPlan()
	sub := NewSubscription(ws, plan, now)
	sub.PeriodEnd = nil
	if _, err := (Issue{LicenseID: "lic_3", Sequence: 1, Workspace: ws, Subscription: sub, Plan: plan, Now: now}).Document(); err == nil {
		t.Error("Document of a paid subscription without a period end succeeded")
	}
}

func TestNewSubscription(t *testing.T) {
	t.Parallel()
	free := NewSubscription(ws, freePlan(), now)
	if free.PeriodEnd != nil || free.Status != SubscriptionActive || free.PlanID != "starter" || free.PlanVersion != 1 {
		t.Errorf("free subscription = %+v", free)
	}
	paid := NewSubscription(ws, paidPlan(), now)
	if want := EndOfUTCDay(now.AddDate(0, 0, 365)); paid.PeriodEnd == nil || !paid.PeriodEnd.Equal(want) {
		t.Errorf("paid period end = %v, want %v", paid.PeriodEnd, want)
	}
	if paid.LapsesAt == nil || !paid.LapsesAt.Equal(*paid.PeriodEnd) || paid.State() != StatePaid || free.State() != StateFree {
		t.Errorf("paid lapses at %v (state %s), free state %s", paid.LapsesAt, paid.State(), free.State())
	}
}

func TestEndOfUTCDay(t *testing.T) {
	t.Parallel()
	east := time.FixedZone("east", 10*3600)
	// 2025-03-11 05:00 at +10 is still 2025-03-10 in UTC.
	got := EndOfUTCDay(time.Date(2025, 3, 11, 5, 0, 0, 0, east))
	if want := time.Date(2025, 3, 10, 23, 59, 59, 999_000_000, time.UTC); !got.Equal(want) {
		t.Errorf("EndOfUTCDay = %v, want %v", got, want)
	}
}
