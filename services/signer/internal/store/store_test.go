package store_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

func TestSeededPlans(t *testing.T) {
	t.Parallel()
	st := store.New(signertest.NewPool(t))
	plans, err := st.Plans(t.Context()) // every row also passes Plan.Validate
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]domain.Plan{}
	for _, p := range plans {
		byID[p.ID] = p
	}
	if got := slices.Sorted(maps.Keys(byID)); !slices.Equal(got, []string{"enterprise", "pro", "starter"}) {
		t.Fatalf("plans = %v", got)
	}

	starter := byID["starter"]
	if !starter.Free || len(starter.Modules) != 0 || starter.Definition.SupportPlan != domain.SupportStandard || starter.Definition.Coverage != domain.Coverage12x5 {
		t.Errorf("starter = %+v", starter)
	}
	checkLimit(t, "starter activeUsers", starter.Definition.Limits.ActiveUsers, 50, license.BehaviorPreventAction)
	checkLimit(t, "starter monthlyActiveContacts", starter.Definition.Limits.MonthlyActiveContacts, 100, license.BehaviorPreventAction)

	pro := byID["pro"]
	wantPro := []string{"auditing", "canned-responses", "ldap-enterprise", "livechat-enterprise", "engagement-dashboard", "push-privacy",
		"message-read-receipt", "videoconference-enterprise", "custom-roles", "hide-watermark", "teams-mention", "oauth-enterprise", "saml-enterprise"}
	if pro.Free || !slices.Equal(pro.Modules, wantPro) || pro.Definition.SupportPlan != domain.SupportStandard {
		t.Errorf("pro = %+v", pro)
	}
	checkLimit(t, "pro activeUsers", pro.Definition.Limits.ActiveUsers, 500, license.BehaviorStartFairPolicy)
	checkLimit(t, "pro monthlyActiveContacts", pro.Definition.Limits.MonthlyActiveContacts, 1000, license.BehaviorStartFairPolicy)

	ent := byID["enterprise"]
	if got, want := slices.Sorted(slices.Values(ent.Modules)), slices.Sorted(maps.Keys(license.KnownModules)); !slices.Equal(got, want) {
		t.Errorf("enterprise modules = %v, want every known module %v", got, want)
	}
	if ent.Definition.SupportPlan != domain.SupportPlus || ent.Definition.Coverage != domain.Coverage24x7 {
		t.Errorf("enterprise support = %s %s", ent.Definition.SupportPlan, ent.Definition.Coverage)
	}
	checkLimit(t, "enterprise activeUsers", ent.Definition.Limits.ActiveUsers, 2000, license.BehaviorStartFairPolicy)
	checkLimit(t, "enterprise monthlyActiveContacts", ent.Definition.Limits.MonthlyActiveContacts, 10000, license.BehaviorStartFairPolicy)

	// The default plan, for registrations that name none, is starter.
	err = st.InTx(t.Context(), func(tx *store.Tx) error {
		p, err := tx.DefaultPlan(t.Context())
		if p.ID != "starter" {
			t.Errorf("default plan = %q, want starter", p.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkLimit(t *testing.T, name string, ls []license.Limit, max int, b license.Behavior) {
	t.Helper()
	if len(ls) != 1 || ls[0].Max != max || ls[0].Behavior != b {
		t.Errorf("%s = %+v, want one limit of %d with %s", name, ls, max, b)
	}
}

func TestPlanNotFound(t *testing.T) {
	t.Parallel()
	st := store.New(signertest.NewPool(t))
	if _, err := st.Plan(t.Context(), "platinum"); !errors.Is(err, domain.ErrPlanNotFound) {
		t.Errorf("Plan(platinum) error = %v, want ErrPlanNotFound", err)
	}
}

func TestLicensesAreAppendOnly(t *testing.T) {
	t.Parallel()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	ctx := t.Context()
	w := domain.Workspace{ID: "ws-append", RegisteredAt: time.Now()}
	if err := st.SaveWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	l := domain.License{ID: "lic_a", WorkspaceID: w.ID, Sequence: 1, PlanID: "starter", PlanVersion: 1, Token: "RCV3_x", KeyID: "k", IssuedAt: time.Now(), ExpiresAt: &until}
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.AppendLicense(ctx, l) }); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE licenses SET address = 'evil.example.com'`,
		`DELETE FROM licenses`,
		`TRUNCATE licenses`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded", stmt)
		}
	}
	// A second license with a taken sequence is refused too.
	l.ID = "lic_b"
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.AppendLicense(ctx, l) }); err == nil {
		t.Error("a duplicate (workspace, sequence) was stored")
	}
	ls, err := st.Licenses(ctx, w.ID)
	if err != nil || len(ls) != 1 || ls[0].ID != "lic_a" || ls[0].Address != "" {
		t.Errorf("licenses = %+v, %v", ls, err)
	}
}

func TestPlanVersionsAndWithdrawalsAreAppendOnly(t *testing.T) {
	t.Parallel()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	ctx := t.Context()
	// The paid plans' second version spells out their period rules; the
	// first stays, for the licenses and subscriptions that name it.
	for _, id := range []string{"pro", "enterprise"} {
		versions, err := st.PlanVersions(ctx, id)
		if err != nil || len(versions) != 2 || versions[0].Version != 2 || versions[1].Version != 1 {
			t.Fatalf("%s versions: %d, %v", id, len(versions), err)
		}
		v2 := versions[0].Definition
		if len(v2.EndBehaviors) != 2 || v2.EndBehaviors[0].Behavior != license.BehaviorStartFairPolicy || v2.Notice == nil || v2.Trial == nil || v2.Trial.Days != 30 {
			t.Errorf("%s v2 = %+v", id, v2)
		}
		if len(versions[1].Definition.EndBehaviors) != 0 {
			t.Errorf("%s v1 changed: %+v", id, versions[1].Definition)
		}
		cur, err := st.Plan(ctx, id)
		if err != nil || cur.Version != 2 {
			t.Errorf("%s current = v%d, %v", id, cur.Version, err)
		}
	}
	if err := st.SaveWorkspace(ctx, domain.Workspace{ID: "ws-w", RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO license_withdrawals (workspace_id, sequence, withdrawn_at) VALUES ('ws-w', 1, now())`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE plan_versions SET name = 'Cheap'`,
		`DELETE FROM plan_versions WHERE plan_id = 'pro' AND version = 1`,
		`UPDATE license_withdrawals SET reason = 'none'`,
		`DELETE FROM license_withdrawals`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded", stmt)
		}
	}
	if n, err := st.LastSequence(ctx, "ws-w"); err != nil || n != 1 {
		t.Errorf("last sequence counting withdrawals = %d, %v", n, err)
	}
}
