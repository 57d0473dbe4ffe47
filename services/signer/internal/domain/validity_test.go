package domain

import (
	"reflect"
	"testing"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

func TestPaidValidityAndGrace(t *testing.T) {
	t.Parallel()
	pro := proPlan()
	pro.Definition.EndBehaviors = append(pro.Definition.EndBehaviors[:1],
		EndBehavior{GraceDays: 7, Behavior: license.BehaviorDisableModules, Modules: []string{"auditing"}},
		EndBehavior{GraceDays: 14, Behavior: license.BehaviorPreventAction},
		EndBehavior{GraceDays: 30, Behavior: license.BehaviorInvalidateLicense})
	sub, _, err := NewSubscription(ws, freePlan(), now).Apply(Grant{Plan: pro, Seats: new(60)}, now)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Issue{LicenseID: "lic_p", Sequence: 2, Workspace: ws, Subscription: sub, Plan: pro, Now: now}.Document()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []license.Period{
		{ValidUntil: "2026-03-10T23:59:59.999Z", InvalidBehavior: license.BehaviorStartFairPolicy},
		{ValidUntil: "2026-03-17T23:59:59.999Z", InvalidBehavior: license.BehaviorDisableModules, Modules: []string{"auditing"}},
		{ValidUntil: "2026-03-24T23:59:59.999Z", InvalidBehavior: license.BehaviorPreventAction},
		{ValidUntil: "2026-04-09T23:59:59.999Z", InvalidBehavior: license.BehaviorInvalidateLicense},
	}
	if !reflect.DeepEqual(doc.Validation.ValidPeriods, want) {
		t.Errorf("validPeriods = %+v\nwant %+v", doc.Validation.ValidPeriods, want)
	}
	in := doc.Information
	// 30 and 7 days before the last paid day (2026-03-10), from midnight UTC.
	if in.NotifyAdminsAt != "2026-02-08T00:00:00.000Z" || in.NotifyUsersAt != "2026-03-03T00:00:00.000Z" {
		t.Errorf("notify admins %s users %s", in.NotifyAdminsAt, in.NotifyUsersAt)
	}
	if in.VisualExpiration != "2026-03-10T23:59:59.999Z" || in.Trial || !in.AutoRenew || in.Cancellable == nil || !*in.Cancellable {
		t.Errorf("information = %+v", in)
	}
	if got := doc.Limits.ActiveUsers; len(got) != 1 || got[0].Max != 60 || got[0].Behavior != license.BehaviorStartFairPolicy {
		t.Errorf("activeUsers = %+v", got)
	}
	// A license summarized the day after the end still holds its grace
	// periods, but the first one fires.
	if s := doc.Summarize(now.AddDate(1, 0, 1)); s.Valid || len(s.Problems) != 1 {
		t.Errorf("summary after the end: %+v", s)
	}
}

func TestTrialDocument(t *testing.T) {
	t.Parallel()
	pro := proPlan()
	sub, _, err := NewSubscription(ws, freePlan(), now).Apply(StartTrial{Plan: pro}, now)
	if err != nil {
		t.Fatal(err)
	}
	starter := freePlan().Definition.Support()
	doc, err := Issue{LicenseID: "lic_t", Sequence: 2, Workspace: ws, Subscription: sub, Plan: pro, Now: now, TrialSupport: &starter}.Document()
	if err != nil {
		t.Fatal(err)
	}
	in := doc.Information
	if !in.Trial || in.AutoRenew || in.Cancellable != nil || in.GrantedBy.Method != license.GrantedBySelfService {
		t.Errorf("information = %+v", in)
	}
	// Trials are invalidated at their end, whatever the plan's grace.
	if want := []license.Period{{ValidUntil: "2025-04-09T23:59:59.999Z", InvalidBehavior: license.BehaviorInvalidateLicense}}; !reflect.DeepEqual(doc.Validation.ValidPeriods, want) {
		t.Errorf("validPeriods = %+v", doc.Validation.ValidPeriods)
	}
	if in.NotifyAdminsAt != "2025-04-02T00:00:00.000Z" || in.NotifyUsersAt != "2025-04-06T00:00:00.000Z" {
		t.Errorf("trial notify admins %s users %s", in.NotifyAdminsAt, in.NotifyUsersAt)
	}
	if doc.CloudMeta.SupportPlan != "standard" || doc.CloudMeta.PlanID != "pro" {
		t.Errorf("cloudMeta = %+v", doc.CloudMeta)
	}
}

func TestCancelledAtPeriodEndDocument(t *testing.T) {
	t.Parallel()
	pro := proPlan()
	sub, _, _ := NewSubscription(ws, freePlan(), now).Apply(Grant{Plan: pro}, now)
	sub, _, err := sub.Apply(Cancel{AtPeriodEnd: true, Free: freePlan()}, now)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Issue{LicenseID: "lic_c", Sequence: 3, Workspace: ws, Subscription: sub, Plan: pro, Now: now}.Document()
	if err != nil {
		t.Fatal(err)
	}
	if in := doc.Information; in.AutoRenew || in.Cancellable == nil || *in.Cancellable {
		t.Errorf("information = %+v, want no auto-renewal and not cancellable", in)
	}
}

func TestOfflineDocumentAndOverrides(t *testing.T) {
	t.Parallel()
	plan := paidPlan()
	sub := NewSubscription(ws, plan, now)
	sub.Limits = LimitOverrides{GuestUsers: new(5), MonthlyActiveContacts: new(300)}
	doc, err := Issue{LicenseID: "lic_o", Sequence: 7, Workspace: ws, Subscription: sub, Plan: plan, Address: "chat.example.com", Now: now, Offline: true}.Document()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	if !doc.Information.Offline || doc.Validation.StatisticsReport.Required || doc.Validation.StatisticsReport.AllowedStaleInDays != nil {
		t.Errorf("offline document: %+v %+v", doc.Information, doc.Validation.StatisticsReport)
	}
	// guestUsers is not limited by the plan: the override adds a limit.
	if got := doc.Limits.GuestUsers; len(got) != 1 || got[0].Max != 5 || got[0].Behavior != license.BehaviorPreventAction {
		t.Errorf("guestUsers = %+v", got)
	}
	if got := doc.Limits.MonthlyActiveContacts; len(got) != 1 || got[0].Max != 300 || got[0].Behavior != license.BehaviorStartFairPolicy {
		t.Errorf("monthlyActiveContacts = %+v", got)
	}
	if plan.Definition.Limits.MonthlyActiveContacts[0].Max != 10000 {
		t.Error("an override changed the shared plan")
	}
}

func TestPlanValidateNamesFields(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		breakIt func(*Plan)
		field   string
	}{
		"bad id":              {func(p *Plan) { p.ID = "Pro Plan" }, "id"},
		"no name":             {func(p *Plan) { p.Name = " " }, "name"},
		"unknown module":      {func(p *Plan) { p.Modules = []string{"auditing", "teleportation"} }, "modules[1]"},
		"bad limit behaviour": {func(p *Plan) { p.Definition.Limits.ActiveUsers[0].Behavior = "shrug" }, "definition.limits.activeUsers[0].behavior"},
		"negative limit":      {func(p *Plan) { p.Definition.Limits.ActiveUsers[0].Max = -1 }, "definition.limits.activeUsers[0].max"},
		"end behaviour":       {func(p *Plan) { p.Definition.EndBehaviors = []EndBehavior{{Behavior: "allow_action"}} }, "definition.endBehaviors[0].behavior"},
		"disable no modules": {func(p *Plan) {
			p.Definition.EndBehaviors = []EndBehavior{{Behavior: license.BehaviorDisableModules}}
		}, "definition.endBehaviors[0].modules"},
		"trial days":     {func(p *Plan) { p.Definition.Trial = &TrialRules{Days: 0} }, "definition.trial.days"},
		"notice":         {func(p *Plan) { p.Definition.Notice = &Notice{AdminsDays: -1} }, "definition.notice.adminsDays"},
		"support plan":   {func(p *Plan) { p.Definition.SupportPlan = "gold" }, "definition.supportPlan"},
		"stale days":     {func(p *Plan) { p.Definition.StatisticsReport.AllowedStaleInDays = new(-1) }, "definition.statisticsReport.allowedStaleInDays"},
		"first response": {func(p *Plan) { p.Definition.FirstResponseHours.Medium = 0 }, "definition.firstResponseHours.medium"},
		"paid term":      {func(p *Plan) { p.Definition.TermDays = 0 }, "definition.termDays"},
		"coverage":       {func(p *Plan) { p.Definition.Coverage = "9x5" }, "definition.coverage"},
		"graceDays order": {func(p *Plan) {
			p.Definition.EndBehaviors = []EndBehavior{{GraceDays: 5, Behavior: "prevent_action"}, {GraceDays: 1, Behavior: "invalidate_license"}}
		}, "definition.endBehaviors[1].graceDays"},
	}
	for name, tt := range tests {
		p := proPlan()
		tt.breakIt(&p)
		err := p.Validate()
		fields := fieldsOf(err)
		if len(fields) != 1 || fields[0] != tt.field {
			t.Errorf("%s: fields %v (%v), want [%s]", name, fields, err, tt.field)
		}
	}
}

func fieldsOf(err error) []string {
	var out []string
	for _, f := range validate.Fields(err) {
		out = append(out, f.Field)
	}
	return out
}
