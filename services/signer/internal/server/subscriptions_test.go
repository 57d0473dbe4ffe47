package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/server"
)

func fields(err error) []string {
	var out []string
	for _, f := range rpcerr.Fields(err) {
		out = append(out, f.Field)
	}
	return out
}

func TestSubscriptionLifecycleOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	pub := e.keys.Key.Public()
	verify := func(what string, l *signerv1.License, seq int64, plan string, trial bool) *license.Document {
		t.Helper()
		if l.GetSequence() != seq || l.GetPlanId() != plan || l.GetTrial() != trial {
			t.Fatalf("%s: license seq %d plan %s trial %v, want %d %s %v", what, l.GetSequence(), l.GetPlanId(), l.GetTrial(), seq, plan, trial)
		}
		doc, err := license.VerifyWithKey(l.GetToken(), pub)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return doc
	}

	tr, err := e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t1", WorkspaceId: "ws-1", CustomerId: "cus_1", PlanId: "pro"}, as("billing-key"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetSubscription().GetState() != signerv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING || tr.GetSubscription().GetCustomerId() != "cus_1" {
		t.Errorf("trial subscription = %v", tr.GetSubscription())
	}
	verify("trial", tr.GetLicense(), 1, "pro", true)

	// The same key and request: the same answer, nothing issued.
	again, err := e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t1", WorkspaceId: "ws-1", CustomerId: "cus_1", PlanId: "pro"}, as("billing-key"))
	if err != nil || again.GetLicense().GetId() != tr.GetLicense().GetId() {
		t.Errorf("replay: %v, %v", again.GetLicense().GetId(), err)
	}
	// The same key, another request: refused, naming the key.
	_, err = e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t1", WorkspaceId: "ws-1", PlanId: "enterprise"}, as("billing-key"))
	wantStatus(t, "reused key", err, codes.FailedPrecondition, server.ReasonKeyReused)
	if !strings.Contains(err.Error(), `"t1"`) {
		t.Errorf("reused key error does not name the key: %v", err)
	}

	ext, err := e.subs.ExtendTrial(ctx, &signerv1.ExtendTrialRequest{IdempotencyKey: "x1", WorkspaceId: "ws-1", Days: 5}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	verify("extend", ext.GetLicense(), 2, "pro", true)

	conv, err := e.subs.ConvertTrial(ctx, &signerv1.ConvertTrialRequest{IdempotencyKey: "c1", WorkspaceId: "ws-1", Seats: new(int64(30)),
		GrantMethod: signerv1.GrantMethod_GRANT_METHOD_SALES, Seller: "Jo"}, as("billing-key"))
	if err != nil {
		t.Fatal(err)
	}
	doc := verify("purchase", conv.GetLicense(), 3, "pro", false)
	if doc.Limits.ActiveUsers[0].Max != 30 || doc.Information.GrantedBy != (license.GrantedBy{Method: license.GrantedBySales, Seller: "Jo"}) {
		t.Errorf("purchased license: %+v %+v", doc.Limits.ActiveUsers, doc.Information.GrantedBy)
	}
	if s := conv.GetSubscription(); s.GetState() != signerv1.SubscriptionState_SUBSCRIPTION_STATE_PAID || s.GetSeats() != 30 || s.GetGrantMethod() != signerv1.GrantMethod_GRANT_METHOD_SALES {
		t.Errorf("purchased subscription = %v", s)
	}

	end := time.Now().AddDate(2, 0, 0)
	grant, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "g1", WorkspaceId: "ws-1", PlanId: "pro", Seats: new(int64(45)),
		Limits: &signerv1.LimitOverrides{GuestUsers: new(int64(8))}, PeriodEnd: timestamppb.New(end)}, as("billing-key"))
	if err != nil {
		t.Fatal(err)
	}
	doc = verify("seats", grant.GetLicense(), 4, "pro", false)
	if doc.Limits.ActiveUsers[0].Max != 45 || doc.Limits.GuestUsers[0].Max != 8 || grant.GetSubscription().GetLimits().GetGuestUsers() != 8 {
		t.Errorf("seats: %+v", doc.Limits)
	}
	if got := grant.GetSubscription().GetPeriodEnd().AsTime(); !got.Equal(time.Date(end.Year(), end.Month(), end.Day(), 23, 59, 59, 999_000_000, time.UTC)) {
		t.Errorf("period end = %v, want the end of %v's UTC day", got, end)
	}

	ren, err := e.subs.RenewSubscription(ctx, &signerv1.RenewSubscriptionRequest{IdempotencyKey: "r1", WorkspaceId: "ws-1"}, as("billing-key"))
	if err != nil || !ren.GetSubscription().GetPeriodEnd().AsTime().After(end) {
		t.Fatalf("renew: %v, %v", ren.GetSubscription(), err)
	}
	verify("renew", ren.GetLicense(), 5, "pro", false)

	ent, err := e.subs.GetEntitlement(ctx, &signerv1.GetEntitlementRequest{WorkspaceId: "ws-1", CustomerId: "cus_1"}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	en := ent.GetEntitlement()
	if en.GetPlanName() != "Pro" || en.GetSubscription().GetPlanVersion() != 2 || en.GetLicenseSequence() != 5 || en.GetTrial() || len(en.GetModules()) == 0 ||
		en.GetSupport().GetPlan() != "standard" || en.GetSupport().GetCoverage() != "12x5" || en.GetSupport().GetHighFirstResponseHours() != 24 ||
		len(en.GetValidPeriods()) != 2 || en.GetNotifyAdminsAt() == nil || en.GetNotifyUsersAt() == nil {
		t.Errorf("entitlement = %v", en)
	}
	var seatLimit int64
	for _, l := range en.GetLimits() {
		if l.GetKind() == "activeUsers" {
			seatLimit = l.GetMax()
		}
	}
	if seatLimit != 45 {
		t.Errorf("entitlement limits = %v", en.GetLimits())
	}

	sus, err := e.subs.SuspendSubscription(ctx, &signerv1.SuspendSubscriptionRequest{IdempotencyKey: "s1", WorkspaceId: "ws-1", Reason: "chargeback"}, as("support-key"))
	if err != nil || sus.GetWithdrawnSequence() != 6 || sus.GetSubscription().GetSuspendedState() != signerv1.SubscriptionState_SUBSCRIPTION_STATE_PAID {
		t.Fatalf("suspend: %v, %v", sus, err)
	}
	_, err = e.subs.SuspendSubscription(ctx, &signerv1.SuspendSubscriptionRequest{IdempotencyKey: "s2", WorkspaceId: "ws-1"}, as("support-key"))
	wantStatus(t, "suspend twice", err, codes.FailedPrecondition, server.ReasonAlreadySuspended)
	_, err = e.subs.CancelSubscription(ctx, &signerv1.CancelSubscriptionRequest{IdempotencyKey: "cx", WorkspaceId: "ws-1"}, as("billing-key"))
	wantStatus(t, "cancel while suspended", err, codes.FailedPrecondition, server.ReasonSuspended)
	rei, err := e.subs.ReinstateSubscription(ctx, &signerv1.ReinstateSubscriptionRequest{IdempotencyKey: "re1", WorkspaceId: "ws-1"}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	verify("reinstate", rei.GetLicense(), 7, "pro", false)

	can, err := e.subs.CancelSubscription(ctx, &signerv1.CancelSubscriptionRequest{IdempotencyKey: "c2", WorkspaceId: "ws-1"}, as(serviceKey))
	if err != nil {
		t.Fatal(err)
	}
	verify("cancel", can.GetLicense(), 8, "starter", false)
	_, err = e.subs.CancelSubscription(ctx, &signerv1.CancelSubscriptionRequest{IdempotencyKey: "c3", WorkspaceId: "ws-1"}, as("billing-key"))
	wantStatus(t, "cancel a cancelled subscription", err, codes.FailedPrecondition, server.ReasonNoPaidSubscription)

	_, err = e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t2", WorkspaceId: "ws-1", PlanId: "pro"}, as("billing-key"))
	wantStatus(t, "trial twice", err, codes.FailedPrecondition, server.ReasonTrialAlreadyUsed)
	_, err = e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t3", WorkspaceId: "ws-1", PlanId: "pro", SupportOverride: true}, as("billing-key"))
	wantStatus(t, "billing overriding", err, codes.PermissionDenied, server.ReasonOverrideNotAllowed)
	over, err := e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "t4", WorkspaceId: "ws-1", PlanId: "pro", SupportOverride: true}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	verify("second trial", over.GetLicense(), 9, "pro", true)

	hist, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-1"}, as("support-key"))
	if err != nil || len(hist.GetLicenses()) != 8 || hist.GetLicenses()[0].GetSequence() != 9 {
		t.Errorf("history: %d licenses, %v", len(hist.GetLicenses()), err)
	}
}

func TestSubscriptionBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	before := time.Now().AddDate(0, 2, 0)
	after := time.Now().AddDate(0, 1, 0)
	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
		fields []string
	}{
		{"unknown plan", func() error {
			_, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "a", WorkspaceId: "ws-1", PlanId: "platinum"}, as("billing-key"))
			return err
		}, codes.NotFound, server.ReasonPlanNotFound, nil},
		{"negative seats", func() error {
			_, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "b", WorkspaceId: "ws-1", PlanId: "pro", Seats: new(int64(-3)),
				Limits: &signerv1.LimitOverrides{MonthlyActiveContacts: new(int64(-1))}}, as("billing-key"))
			return err
		}, codes.InvalidArgument, server.ReasonInvalidRequest, []string{"seats", "limits.monthly_active_contacts"}},
		{"end before start", func() error {
			_, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "c", WorkspaceId: "ws-1", PlanId: "pro",
				PeriodStart: timestamppb.New(before), PeriodEnd: timestamppb.New(after)}, as("billing-key"))
			return err
		}, codes.InvalidArgument, server.ReasonInvalidRequest, []string{"period_end"}},
		{"no key, no plan", func() error {
			_, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{WorkspaceId: "ws-1"}, as("billing-key"))
			return err
		}, codes.InvalidArgument, server.ReasonInvalidRequest, []string{"idempotency_key", "plan_id"}},
		{"self-service plus support", func() error {
			_, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "d", WorkspaceId: "ws-1", PlanId: "enterprise",
				GrantMethod: signerv1.GrantMethod_GRANT_METHOD_SELF_SERVICE}, as("billing-key"))
			return err
		}, codes.FailedPrecondition, server.ReasonSupportNotSelfServe, nil},
		{"renew the free plan", func() error {
			_, err := e.subs.RenewSubscription(ctx, &signerv1.RenewSubscriptionRequest{IdempotencyKey: "e", WorkspaceId: "ws-1"}, as("billing-key"))
			return err
		}, codes.FailedPrecondition, server.ReasonNoPaidSubscription, nil},
		{"reinstate an active one", func() error {
			_, err := e.subs.ReinstateSubscription(ctx, &signerv1.ReinstateSubscriptionRequest{IdempotencyKey: "f", WorkspaceId: "ws-1"}, as("support-key"))
			return err
		}, codes.FailedPrecondition, server.ReasonNotSuspended, nil},
		{"extend no trial", func() error {
			_, err := e.subs.ExtendTrial(ctx, &signerv1.ExtendTrialRequest{IdempotencyKey: "g", WorkspaceId: "ws-1", Days: 3}, as("support-key"))
			return err
		}, codes.FailedPrecondition, server.ReasonNotTrialing, nil},
		{"trial of the free plan", func() error {
			_, err := e.subs.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: "h", WorkspaceId: "ws-1", PlanId: "starter"}, as("billing-key"))
			return err
		}, codes.InvalidArgument, server.ReasonInvalidRequest, []string{"plan_id"}},
		{"billing suspending", func() error {
			_, err := e.subs.SuspendSubscription(ctx, &signerv1.SuspendSubscriptionRequest{IdempotencyKey: "i", WorkspaceId: "ws-1"}, as("billing-key"))
			return err
		}, codes.PermissionDenied, "", nil},
	}
	for _, tt := range tests {
		err := tt.call()
		if rpcerr.Code(err) != tt.code || rpcerr.Reason(err) != tt.reason {
			t.Errorf("%s: %v (reason %q), want %s %s", tt.name, err, rpcerr.Reason(err), tt.code, tt.reason)
		}
		if tt.fields != nil && strings.Join(fields(err), ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: fields %v, want %v", tt.name, fields(err), tt.fields)
		}
	}
	// Nothing was issued by any of them.
	hist, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-1"}, as("support-key"))
	if err != nil || len(hist.GetLicenses()) != 0 {
		t.Errorf("history after refused calls: %d, %v", len(hist.GetLicenses()), err)
	}
}

// TestAnotherCustomersWorkspace checks that naming a customer that is not the
// workspace's gets exactly what an unknown workspace gets.
func TestAnotherCustomersWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	_, theirs := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "a", WorkspaceId: "ws-2", CustomerId: "cus_1", PlanId: "pro"}, as("billing-key"))
	_, unknown := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "b", WorkspaceId: "ws-nobody", CustomerId: "cus_1", PlanId: "pro"}, as("billing-key"))
	wantStatus(t, "another customer's workspace", theirs, codes.NotFound, server.ReasonWorkspaceNotFound)
	if theirs.Error() != unknown.Error() {
		t.Errorf("another customer's workspace: %q; unknown workspace: %q; want the same", theirs, unknown)
	}
	_, err := e.subs.GetEntitlement(ctx, &signerv1.GetEntitlementRequest{WorkspaceId: "ws-2", CustomerId: "cus_1"}, as("billing-key"))
	wantStatus(t, "entitlement of another customer's workspace", err, codes.NotFound, server.ReasonWorkspaceNotFound)
	_, err = e.client.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: "c", WorkspaceId: "ws-2", CustomerId: "cus_1"}, as("support-key"))
	wantStatus(t, "offline license of another customer's workspace", err, codes.NotFound, server.ReasonWorkspaceNotFound)
}

func TestPlanAdministration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	def := `{"limits": {"activeUsers": [{"max": 25, "behavior": "prevent_action"}]}, "termDays": 90,
		"statisticsReport": {"required": true}, "supportPlan": "standard", "coverage": "12x5",
		"firstResponseHours": {"high": 8, "medium": 24, "low": 48}, "autoRenew": true}`
	created, err := e.client.CreatePlan(ctx, &signerv1.CreatePlanRequest{IdempotencyKey: "p1", Id: "team", Name: "Team", Modules: []string{"auditing"}, DefinitionJson: def}, as("admin-key"))
	if err != nil || created.GetPlan().GetVersion() != 1 {
		t.Fatalf("create: %v, %v", created, err)
	}
	_, err = e.client.CreatePlan(ctx, &signerv1.CreatePlanRequest{IdempotencyKey: "p2", Id: "team", Name: "Team", DefinitionJson: def}, as("admin-key"))
	wantStatus(t, "duplicate plan", err, codes.AlreadyExists, server.ReasonPlanExists)
	_, err = e.client.CreatePlan(ctx, &signerv1.CreatePlanRequest{IdempotencyKey: "p3", Id: "team2", Name: "Team", DefinitionJson: def}, as("billing-key"))
	if rpcerr.Code(err) != codes.PermissionDenied {
		t.Errorf("billing creating a plan: %v", err)
	}
	bad := strings.Replace(def, `"prevent_action"`, `"disable_modules"`, 1)
	_, err = e.client.PublishPlanVersion(ctx, &signerv1.PublishPlanVersionRequest{IdempotencyKey: "p4", Id: "team", Name: "Team", DefinitionJson: bad}, as("admin-key"))
	wantStatus(t, "a plan whose license would not validate", err, codes.InvalidArgument, server.ReasonInvalidPlan)
	if got := fields(err); len(got) != 1 || got[0] != "definition_json.limits.activeUsers[0].modules" {
		t.Errorf("invalid plan fields = %v", got)
	}
	v2, err := e.client.PublishPlanVersion(ctx, &signerv1.PublishPlanVersionRequest{IdempotencyKey: "p5", Id: "team", Name: "Team+", Modules: []string{"auditing", "custom-roles"},
		DefinitionJson: def, ExpectedVersion: 1}, as("admin-key"))
	if err != nil || v2.GetPlan().GetVersion() != 2 || v2.GetPlan().GetName() != "Team+" {
		t.Fatalf("publish: %v, %v", v2, err)
	}
	_, err = e.client.PublishPlanVersion(ctx, &signerv1.PublishPlanVersionRequest{IdempotencyKey: "p6", Id: "team", Name: "Team", DefinitionJson: def, ExpectedVersion: 1}, as("admin-key"))
	wantStatus(t, "stale expected version", err, codes.FailedPrecondition, server.ReasonPlanVersionConflict)
	old, err := e.client.GetPlan(ctx, &signerv1.GetPlanRequest{Id: "team", Version: 1}, as("ops-key"))
	if err != nil || old.GetPlan().GetName() != "Team" || old.GetPlan().GetVersion() != 1 {
		t.Errorf("version 1: %v, %v", old, err)
	}
	cur, err := e.client.GetPlan(ctx, &signerv1.GetPlanRequest{Id: "team"}, as("ops-key"))
	if err != nil || cur.GetPlan().GetVersion() != 2 {
		t.Errorf("current: %v, %v", cur, err)
	}
	// The new plan is grantable at once.
	g, err := e.subs.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{IdempotencyKey: "g", WorkspaceId: "ws-1", PlanId: "team"}, as("billing-key"))
	if err != nil || g.GetLicense().GetPlanVersion() != 2 || len(g.GetLicense().GetModules()) != 2 {
		t.Errorf("grant of the new plan: %v, %v", g.GetLicense(), err)
	}
}

func TestOfflineLicenseOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	resp, err := e.client.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: "o1", WorkspaceId: "ws-1", Address: "https://air.example.com"}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := license.VerifyWithKey(resp.GetLicense().GetToken(), e.keys.Key.Public())
	if err != nil || !doc.Information.Offline || !resp.GetLicense().GetOffline() || doc.Validation.StatisticsReport.Required || !doc.MatchesAddress("air.example.com") {
		t.Errorf("offline license: %+v, %v", doc, err)
	}
	_, err = e.client.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: "o2", WorkspaceId: "ws-1", Address: "not a url"}, as("support-key"))
	wantStatus(t, "bad address", err, codes.InvalidArgument, server.ReasonInvalidAddress)
	_, err = e.client.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: "o3", WorkspaceId: "ws-1"}, as("billing-key"))
	if rpcerr.Code(err) != codes.PermissionDenied {
		t.Errorf("billing issuing offline: %v", err)
	}
}
