package issuance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

var keySeq struct {
	sync.Mutex
	n int
}

// key returns an idempotency record for a fresh call.
func key(method string) Idempotency {
	keySeq.Lock()
	defer keySeq.Unlock()
	keySeq.n++
	return Idempotency{Key: fmt.Sprintf("k-%d", keySeq.n), Method: method, Hash: []byte(method)}
}

// registered returns an env whose workspace has its first (starter) license,
// bound to chat.example.com.
func registered(t *testing.T, id string) env {
	t.Helper()
	e := newEnv(t, workspace(id, ""))
	if _, _, err := e.svc.Ensure(t.Context(), id, "https://chat.example.com"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e env) sequences(t *testing.T, ws string) []int64 {
	t.Helper()
	ls, err := e.store.Licenses(t.Context(), ws)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, l := range ls {
		out = append(out, l.Sequence)
	}
	slices.Reverse(out)
	return out
}

func pro() domain.Plan { return domain.Plan{ID: "pro"} }

func TestLifecycleIssuesEachChange(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-life")
	ctx := t.Context()
	steps := []struct {
		name   string
		change domain.Change
		state  domain.State
		plan   string
		trial  bool
		seats  int
	}{
		{"trial", domain.StartTrial{Plan: pro()}, domain.StateTrialing, "pro", true, 500},
		{"extend", domain.ExtendTrial{Days: 7}, domain.StateTrialing, "pro", true, 500},
		{"purchase", domain.ConvertTrial{Seats: new(40)}, domain.StatePaid, "pro", false, 40},
		{"more seats", domain.Grant{Plan: pro(), Seats: new(75)}, domain.StatePaid, "pro", false, 75},
		{"upgrade", domain.Grant{Plan: domain.Plan{ID: "enterprise"}, Method: license.GrantedBySales, Seller: "ACME"}, domain.StatePaid, "enterprise", false, 2000},
		{"renew", domain.Renew{}, domain.StatePaid, "enterprise", false, 2000},
		{"cancel at the end", domain.Cancel{AtPeriodEnd: true}, domain.StatePaid, "enterprise", false, 2000},
		{"cancel now", domain.Cancel{}, domain.StateFree, "starter", false, 50},
	}
	for i, st := range steps {
		out, err := e.svc.Change(ctx, "ws-life", "cus_ws-life", key(st.name), st.change)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		l := out.License
		if l == nil || l.Sequence != int64(i+2) || out.Subscription.State() != st.state || l.PlanID != st.plan || l.Trial != st.trial {
			t.Fatalf("%s: state %s, license %+v", st.name, out.Subscription.State(), l)
		}
		doc := e.verify(t, *l)
		if doc.Information.Trial != st.trial || doc.CloudMeta.PlanID != st.plan || doc.CloudMeta.Sequence != l.Sequence || doc.Limits.ActiveUsers[0].Max != st.seats {
			t.Errorf("%s: document %+v %+v limits %+v", st.name, doc.Information, doc.CloudMeta, doc.Limits.ActiveUsers)
		}
		if len(doc.Validation.ServerURLs) != 1 || doc.Validation.ServerURLs[0].Value != "chat.example.com" {
			t.Errorf("%s: binding lost: %+v", st.name, doc.Validation.ServerURLs)
		}
	}
	if got := e.sequences(t, "ws-life"); len(got) != len(steps)+1 || got[len(got)-1] != int64(len(steps)+1) {
		t.Errorf("sequences = %v", got)
	}
	if got := e.outbox(t); len(got) != len(steps)+1 {
		t.Errorf("%d events for %d licenses", len(got), len(steps)+1)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-idem")
	ctx := t.Context()
	k := key("grant")
	first, err := e.svc.Change(ctx, "ws-idem", "", k, domain.Grant{Plan: pro(), Seats: new(10)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Change(ctx, "ws-idem", "", k, domain.Grant{Plan: pro(), Seats: new(10)})
	if err != nil {
		t.Fatal(err)
	}
	if again.License.ID != first.License.ID || again.License.Token != first.License.Token || again.Subscription.Seats != 10 {
		t.Errorf("replay = %+v, want the first answer %+v", again.License, first.License)
	}
	// The same key with another request is refused, naming the key.
	other := k
	other.Hash = []byte("seats 11")
	_, err = e.svc.Change(ctx, "ws-idem", "", other, domain.Grant{Plan: pro(), Seats: new(11)})
	if !errors.Is(err, domain.ErrIdempotencyKeyReused) || !strings.Contains(err.Error(), k.Key) {
		t.Errorf("reused key: %v", err)
	}
	if got := e.sequences(t, "ws-idem"); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("sequences = %v, want one license for the grant", got)
	}
	// Concurrent calls with one key: one effect, one answer.
	k2 := key("grant")
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		wg.Go(func() {
			out, err := e.svc.Change(ctx, "ws-idem", "", k2, domain.Grant{Plan: pro(), Seats: new(20)})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = out.License.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent replays answered %v", ids)
		}
	}
	if got := e.sequences(t, "ws-idem"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("sequences = %v", got)
	}
	if err := (Idempotency{}).Check(); len(validate.Fields(err)) != 1 {
		t.Errorf("empty key: %v", err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-bad")
	ctx := t.Context()
	if _, err := e.svc.Change(ctx, "ws-bad", "", key("trial"), domain.StartTrial{Plan: pro()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Change(ctx, "ws-bad", "", key("cancel"), domain.Cancel{}); err != nil {
		t.Fatal(err)
	}
	before := e.sequences(t, "ws-bad")
	end := time.Now().AddDate(-1, 0, 0)
	tests := []struct {
		name     string
		customer string
		c        domain.Change
		want     error
	}{
		{"unknown plan", "", domain.Grant{Plan: domain.Plan{ID: "platinum"}}, domain.ErrPlanNotFound},
		{"end in the past", "", domain.Grant{Plan: pro(), PeriodEnd: &end}, validate.ErrInvalid},
		{"trial twice", "", domain.StartTrial{Plan: pro()}, domain.ErrTrialAlreadyUsed},
		{"cancel a cancelled subscription", "", domain.Cancel{}, domain.ErrNoPaidSubscription},
		{"another customer's workspace", "cus_other", domain.Grant{Plan: pro()}, domain.ErrWorkspaceNotFound},
		{"free plan granted", "", domain.Grant{Plan: domain.Plan{ID: "starter"}}, validate.ErrInvalid},
		{"self-service plus support", "", domain.Grant{Plan: domain.Plan{ID: "enterprise"}, Method: license.GrantedBySelfService}, domain.ErrSupportNotSelfService},
	}
	for _, tt := range tests {
		if _, err := e.svc.Change(ctx, "ws-bad", tt.customer, key(tt.name), tt.c); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := e.svc.Change(ctx, "ws-nobody", "", key("x"), domain.Cancel{}); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("unknown workspace: %v", err)
	}
	if got := e.sequences(t, "ws-bad"); !slices.Equal(got, before) {
		t.Errorf("sequences = %v, want %v unchanged", got, before)
	}
	// Support may grant a second trial.
	out, err := e.svc.Change(ctx, "ws-bad", "", key("override"), domain.StartTrial{Plan: pro(), Override: true})
	if err != nil || !out.Subscription.Trial() {
		t.Errorf("trial with the support override: %v", err)
	}
}

func TestSuspendWithdrawsAndReinstateIssues(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-susp")
	ctx := t.Context()
	out, err := e.svc.Change(ctx, "ws-susp", "", key("suspend"), domain.Suspend{Reason: "unpaid"})
	if err != nil || out.Withdrawn != 2 || out.License != nil || out.Subscription.State() != domain.StateSuspended {
		t.Fatalf("suspend: %+v, %v", out, err)
	}
	if _, err := e.svc.Change(ctx, "ws-susp", "", key("again"), domain.Suspend{}); !errors.Is(err, domain.ErrAlreadySuspended) {
		t.Errorf("suspending a suspended subscription: %v", err)
	}
	// A sync meanwhile, even from a new address, gets nothing new.
	l, issued, err := e.svc.Ensure(ctx, "ws-susp", "moved.example.com")
	if err != nil || issued || l.Sequence != 1 {
		t.Errorf("Ensure while suspended: seq %d issued %v, %v", l.Sequence, issued, err)
	}
	if _, err := e.svc.OfflineLicense(ctx, "ws-susp", "", "", key("offline")); !errors.Is(err, domain.ErrSubscriptionSuspended) {
		t.Errorf("offline license while suspended: %v", err)
	}
	back, err := e.svc.Change(ctx, "ws-susp", "", key("reinstate"), domain.Reinstate{})
	if err != nil || back.License == nil || back.License.Sequence != 3 || back.Subscription.State() != domain.StateFree {
		t.Fatalf("reinstate: %+v, %v", back, err)
	}
	got := e.outbox(t)
	want := []outboxRow{
		{Subject: "licensing.license.issued.v1", Seq: "1", Agg: "ws-susp"},
		{Subject: "licensing.license.withdrawn.v1", Seq: "2", Agg: "ws-susp"},
		{Subject: "licensing.license.issued.v1", Seq: "3", Agg: "ws-susp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("outbox = %+v", got)
	}
}

func TestApplyDue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-trial", ""), workspace("ws-cancel", ""), workspace("ws-renewing", ""))
	ctx := t.Context()
	start := time.Date(2025, 3, 10, 15, 4, 5, 0, time.UTC)
	clock := start
	var mu sync.Mutex
	e.svc.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	setClock := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	for _, ws := range []string{"ws-trial", "ws-cancel", "ws-renewing"} {
		if _, _, err := e.svc.Ensure(ctx, ws, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Change(ctx, "ws-trial", "", key("t"), domain.StartTrial{Plan: pro()}); err != nil {
		t.Fatal(err)
	}
	end := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	for _, ws := range []string{"ws-cancel", "ws-renewing"} {
		if _, err := e.svc.Change(ctx, ws, "", key("g"), domain.Grant{Plan: pro(), PeriodEnd: &end, AutoRenew: new(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Change(ctx, "ws-cancel", "", key("c"), domain.Cancel{AtPeriodEnd: true}); err != nil {
		t.Fatal(err)
	}
	plan := func(ws string) (string, domain.State) {
		sub, _, err := e.store.Subscription(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		return sub.PlanID, sub.State()
	}
	pass := func(at time.Time, want int) {
		t.Helper()
		setClock(at)
		n, err := e.svc.ApplyDue(ctx)
		if err != nil || n != want {
			t.Fatalf("ApplyDue at %s = %d, %v; want %d", at, n, err, want)
		}
	}
	pass(start.AddDate(0, 0, 30), 0) // the trial's last day (2025-04-09) is not over
	pass(time.Date(2025, 4, 10, 0, 0, 0, 0, time.UTC), 1)
	if p, s := plan("ws-trial"); p != "starter" || s != domain.StateFree {
		t.Errorf("expired trial: %s %s", p, s)
	}
	pass(time.Date(2025, 6, 30, 23, 59, 59, 0, time.UTC), 0)
	pass(time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), 1) // the cancellation
	if p, _ := plan("ws-cancel"); p != "starter" {
		t.Errorf("cancelled at period end: %s", p)
	}
	// The auto-renewing one has Pro's 15 days' grace for billing to renew.
	pass(time.Date(2025, 7, 15, 12, 0, 0, 0, time.UTC), 0)
	pass(time.Date(2025, 7, 16, 0, 0, 0, 0, time.UTC), 1)
	pass(time.Date(2025, 8, 16, 0, 0, 0, 0, time.UTC), 0)
	ls, _ := e.store.Licenses(ctx, "ws-renewing")
	if l := ls[0]; l.PlanID != "starter" || l.Sequence != 3 || !l.IssuedAt.Equal(time.Date(2025, 7, 16, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("fallback license = %+v", l)
	}
}

func TestPlanVersionsAreKept(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-ver")
	ctx := t.Context()
	if _, err := e.svc.Change(ctx, "ws-ver", "", key("g"), domain.Grant{Plan: pro()}); err != nil {
		t.Fatal(err)
	}
	cur, err := e.store.Plan(ctx, "pro")
	if err != nil {
		t.Fatal(err)
	}
	next := domain.Plan{ID: "pro", Name: "Pro", Modules: []string{"auditing"}, DefinitionJSON: cur.DefinitionJSON}
	if _, err := e.svc.PublishPlanVersion(ctx, key("pub"), next, cur.Version+5); !errors.Is(err, domain.ErrPlanVersionConflict) {
		t.Errorf("publish over an unexpected version: %v", err)
	}
	v3, err := e.svc.PublishPlanVersion(ctx, key("pub"), next, cur.Version)
	if err != nil || v3.Version != cur.Version+1 || v3.Free {
		t.Fatalf("publish: %+v, %v", v3, err)
	}
	// A re-issue (a new address) keeps the subscription's version.
	moved, _, err := e.svc.Ensure(ctx, "ws-ver", "new.example.com")
	if err != nil || moved.PlanVersion != cur.Version || len(moved.Modules) != len(cur.Modules) {
		t.Errorf("re-issue: version %d, %d modules; want %d and %d", moved.PlanVersion, len(moved.Modules), cur.Version, len(cur.Modules))
	}
	// A change moves it to the current version.
	out, err := e.svc.Change(ctx, "ws-ver", "", key("seats"), domain.Grant{Plan: pro(), Seats: new(9)})
	if err != nil || out.License.PlanVersion != v3.Version || !slices.Equal(out.License.Modules, []string{"auditing"}) {
		t.Errorf("change: %+v, %v", out.License, err)
	}
	doc := e.verify(t, *out.License)
	if doc.CloudMeta.PlanVersion != v3.Version {
		t.Errorf("cloudMeta.planVersion = %d", doc.CloudMeta.PlanVersion)
	}
	versions, err := e.store.PlanVersions(ctx, "pro")
	if err != nil || len(versions) != 3 || versions[0].Version != 3 {
		t.Errorf("versions = %d, %v", len(versions), err)
	}
	// A definition whose license would not validate is refused, naming the field.
	broken := next
	broken.DefinitionJSON = []byte(`{"limits": {"activeUsers": [{"max": 5, "behavior": "shrug"}]}, "termDays": 30, "statisticsReport": {"required": true},
		"supportPlan": "standard", "coverage": "12x5", "firstResponseHours": {"high": 1, "medium": 2, "low": 3}}`)
	_, err = e.svc.PublishPlanVersion(ctx, key("broken"), broken, 0)
	if f := validate.Fields(err); len(f) != 1 || f[0].Field != "definition.limits.activeUsers[0].behavior" {
		t.Errorf("broken definition: %v", err)
	}
	broken.DefinitionJSON = []byte(`{"termDays": 30, "typo": 1}`)
	if _, err = e.svc.PublishPlanVersion(ctx, key("typo"), broken, 0); len(validate.Fields(err)) != 1 || validate.Fields(err)[0].Field != "definition" {
		t.Errorf("unknown member: %v", err)
	}
}

func TestCreatePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	def := []byte(`{"limits": {"activeUsers": [{"max": 25, "behavior": "prevent_action"}]}, "termDays": 90,
		"statisticsReport": {"required": true}, "supportPlan": "standard", "coverage": "12x5",
		"firstResponseHours": {"high": 8, "medium": 24, "low": 48}, "autoRenew": true}`)
	k := key("create")
	p, err := e.svc.CreatePlan(ctx, k, domain.Plan{ID: "team", Name: "Team", Modules: []string{"auditing"}, DefinitionJSON: def})
	if err != nil || p.Version != 1 || p.Definition.TermDays != 90 {
		t.Fatalf("create: %+v, %v", p, err)
	}
	if again, err := e.svc.CreatePlan(ctx, k, domain.Plan{ID: "team", Name: "Team", Modules: []string{"auditing"}, DefinitionJSON: def}); err != nil || again.ID != "team" {
		t.Errorf("replayed create: %v", err)
	}
	if _, err := e.svc.CreatePlan(ctx, key("dup"), domain.Plan{ID: "team", Name: "Team 2", DefinitionJSON: def}); !errors.Is(err, domain.ErrPlanExists) {
		t.Errorf("duplicate id: %v", err)
	}
	got, err := e.store.PlanVersion(ctx, "team", 1)
	if err != nil || got.Name != "Team" {
		t.Errorf("stored: %+v, %v", got, err)
	}
}

func TestOfflineLicense(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-air", "enterprise"))
	ctx := t.Context()
	// Right after an offline registration the signer may not have heard of
	// the workspace: it asks the registry, and issues license 1 offline.
	out, err := e.svc.OfflineLicense(ctx, "ws-air", "cus_ws-air", "https://chat.air.example/", key("offline"))
	if err != nil {
		t.Fatal(err)
	}
	l := out.License
	if l.Sequence != 1 || !l.Offline || l.PlanID != "enterprise" || l.Address != "chat.air.example" {
		t.Fatalf("offline license = %+v", l)
	}
	doc := e.verify(t, *l)
	if !doc.Information.Offline || doc.Validation.StatisticsReport.Required || !doc.MatchesAddress("https://chat.air.example") {
		t.Errorf("offline document = %+v", doc)
	}
	// If the workspace comes online, its sync gets an ordinary license.
	online, issued, err := e.svc.Ensure(ctx, "ws-air", "")
	if err != nil || !issued || online.Offline || online.Sequence != 2 || online.Address != "chat.air.example" {
		t.Errorf("online after offline: %+v issued %v, %v", online, issued, err)
	}
	if _, err := e.svc.OfflineLicense(ctx, "ws-air", "cus_else", "", key("o2")); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("another customer's workspace: %v", err)
	}
}

func TestEntitlement(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-ent")
	ctx := t.Context()
	if _, err := e.svc.Change(ctx, "ws-ent", "", key("t"), domain.StartTrial{Plan: domain.Plan{ID: "enterprise"}}); err != nil {
		t.Fatal(err)
	}
	ent, err := e.svc.Entitlement(ctx, "ws-ent", "cus_ws-ent")
	if err != nil {
		t.Fatal(err)
	}
	// Trial users get standard support, the free plan's.
	if ent.Plan.ID != "enterprise" || !ent.Subscription.Trial() || ent.Support.Plan != domain.SupportStandard || ent.Support.Coverage != domain.Coverage12x5 ||
		ent.LicenseSequence != 2 || !ent.Document.Information.Trial {
		t.Errorf("trial entitlement = %+v support %+v", ent.Subscription, ent.Support)
	}
	if _, err := e.svc.Change(ctx, "ws-ent", "", key("c"), domain.ConvertTrial{}); err != nil {
		t.Fatal(err)
	}
	ent, err = e.svc.Entitlement(ctx, "ws-ent", "")
	if err != nil || ent.Support.Plan != domain.SupportPlus || ent.Support.Coverage != domain.Coverage24x7 || ent.Support.FirstResponseHours.High != 4 {
		t.Errorf("paid entitlement support = %+v, %v", ent.Support, err)
	}
	if _, err := e.svc.Entitlement(ctx, "ws-ent", "cus_other"); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("another customer: %v", err)
	}
}

func TestLoopRunsApplyDue(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-loop")
	ctx := t.Context()
	if _, err := e.svc.Change(ctx, "ws-loop", "", key("t"), domain.StartTrial{Plan: pro()}); err != nil {
		t.Fatal(err)
	}
	// The loop reads the service's clock: a clock past the trial's end makes
	// its first pass move the workspace back to the free plan.
	late := New(e.store, e.keys, e.registry, WithClock(func() time.Time { return time.Now().AddDate(0, 2, 0) }))
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- NewLoop(late, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(loopCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sub, _, err := e.store.Subscription(ctx, "ws-loop")
		if err != nil {
			t.Fatal(err)
		}
		if sub.State() == domain.StateFree {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not apply the trial's end: %+v", sub)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
