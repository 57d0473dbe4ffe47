package issuance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

type env struct {
	svc      *Service
	pool     *pgxpool.Pool
	store    *store.Store
	keys     signertest.Keys
	registry *signertest.Registry
}

func newEnv(t *testing.T, ws ...domain.Workspace) env {
	t.Helper()
	pool := signertest.NewPool(t)
	st := store.New(pool)
	km := signertest.NewKeys(t)
	reg := signertest.NewRegistry(ws...)
	return env{svc: New(st, km, reg), pool: pool, store: st, keys: km, registry: reg}
}

func workspace(id, plan string) domain.Workspace {
	return domain.Workspace{ID: id, CustomerID: "cus_" + id, InitialPlanID: plan, ClientName: "client " + id, RegisteredAt: time.Now().Add(-time.Minute)}
}

// verify checks lic's signature with the public key alone, as a workspace does.
func (e env) verify(t *testing.T, l domain.License) *license.Document {
	t.Helper()
	doc, err := license.VerifyWithKey(l.Token, e.keys.Key.Public())
	if err != nil {
		t.Fatalf("license %d does not verify: %v", l.Sequence, err)
	}
	return doc
}

type outboxRow struct {
	Subject string
	Seq     string
	Agg     string
}

func (e env) outbox(t *testing.T) []outboxRow {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT subject, coalesce(headers->>'Licensing-Aggregate-Seq', ''), headers->>'Licensing-Aggregate-Id' FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Subject, &r.Seq, &r.Agg); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestFirstLicenseOfTokenlessWorkspaceIsStarter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-free", ""))
	l, issued, err := e.svc.Ensure(t.Context(), "ws-free", "")
	if err != nil {
		t.Fatal(err)
	}
	if !issued || l.Sequence != 1 || l.PlanID != "starter" || l.Address != "" || l.ExpiresAt == nil {
		t.Fatalf("license = %+v, issued %v", l, issued)
	}
	doc := e.verify(t, l)
	if len(doc.Validation.ServerURLs) != 0 {
		t.Errorf("serverUrls = %v, want none before an address is known", doc.Validation.ServerURLs)
	}
	if doc.Information.GrantedBy.Method != license.GrantedBySelfService || len(doc.GrantedModules) != 0 {
		t.Errorf("information = %+v, modules %v", doc.Information, doc.GrantedModules)
	}
	if want := license.FormatTime(domain.EndOfUTCDay(l.IssuedAt.AddDate(0, 0, 30))); doc.Validation.ValidPeriods[0].ValidUntil != want {
		t.Errorf("validUntil = %s, want %s", doc.Validation.ValidPeriods[0].ValidUntil, want)
	}
	if got := e.outbox(t); !slices.Equal(got, []outboxRow{{Subject: "licensing.license.issued.v1", Seq: "1", Agg: "ws-free"}}) {
		t.Errorf("outbox = %+v", got)
	}
	if e.registry.Calls() != 1 {
		t.Errorf("registry calls = %d, want 1 (the signer did not know the workspace)", e.registry.Calls())
	}
	// Known now: the registry is not asked again.
	if _, _, err := e.svc.Ensure(t.Context(), "ws-free", ""); err != nil || e.registry.Calls() != 1 {
		t.Errorf("second Ensure: %v, registry calls %d", err, e.registry.Calls())
	}
}

func TestFirstLicenseWithPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-pro", "pro"))
	l, issued, err := e.svc.Ensure(t.Context(), "ws-pro", "")
	if err != nil {
		t.Fatal(err)
	}
	pro, err := e.store.Plan(t.Context(), "pro")
	if err != nil {
		t.Fatal(err)
	}
	if !issued || l.Sequence != 1 || l.PlanID != "pro" || l.PlanVersion != pro.Version || !slices.Equal(l.Modules, pro.Modules) {
		t.Fatalf("license = %+v", l)
	}
	doc := e.verify(t, l)
	if doc.Information.GrantedBy.Method != license.GrantedManually || len(doc.GrantedModules) != len(pro.Modules) {
		t.Errorf("grantedBy %v, %d modules", doc.Information.GrantedBy, len(doc.GrantedModules))
	}
	// A paid plan's license runs to the end of the subscription's term, the
	// end of the UTC day a year on.
	if want := domain.PeriodEndAfter(l.IssuedAt, 365); !l.ExpiresAt.Equal(want) || doc.Validation.ValidPeriods[0].ValidUntil != license.FormatTime(want) {
		t.Errorf("expires %v / validUntil %s, want %v", l.ExpiresAt, doc.Validation.ValidPeriods[0].ValidUntil, want)
	}
	if got := doc.Limits.ActiveUsers; len(got) != 1 || got[0].Max != 500 {
		t.Errorf("activeUsers = %+v", got)
	}
}

func TestAddressBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-addr", ""))
	ctx := t.Context()
	first, _, err := e.svc.Ensure(ctx, "ws-addr", "")
	if err != nil {
		t.Fatal(err)
	}

	bound, issued, err := e.svc.Ensure(ctx, "ws-addr", "https://Chat.Example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if !issued || bound.Sequence != 2 || bound.Address != "chat.example.com" {
		t.Fatalf("bound = %+v, issued %v", bound, issued)
	}
	doc := e.verify(t, bound)
	if got := doc.Validation.ServerURLs; len(got) != 1 || got[0] != (license.ServerURL{Value: "chat.example.com", Type: license.URLTypeURL}) {
		t.Errorf("serverUrls = %v", got)
	}
	if !doc.MatchesAddress("https://chat.example.com") {
		t.Error("the bound license does not match its own address")
	}

	// The same address (in any spelling) or none returns the same license.
	for _, addr := range []string{"https://Chat.Example.com/", "chat.example.com", ""} {
		again, issued, err := e.svc.Ensure(ctx, "ws-addr", addr)
		if err != nil || issued || again.ID != bound.ID || again.Token != bound.Token {
			t.Errorf("Ensure(%q) = seq %d issued %v, %v; want license %d unchanged", addr, again.Sequence, issued, err, bound.Sequence)
		}
	}

	moved, issued, err := e.svc.Ensure(ctx, "ws-addr", "http://other.example.com:3000/team")
	if err != nil || !issued || moved.Sequence != 3 || moved.Address != "other.example.com:3000/team" {
		t.Fatalf("moved = %+v, issued %v, %v", moved, issued, err)
	}

	ls, err := e.store.Licenses(ctx, "ws-addr")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	if !slices.Equal(ids, []string{moved.ID, bound.ID, first.ID}) {
		t.Errorf("history = %v, want newest first", ids)
	}
	var subAddr string
	if err := e.pool.QueryRow(ctx, `SELECT address FROM subscriptions WHERE workspace_id = 'ws-addr'`).Scan(&subAddr); err != nil || subAddr != moved.Address {
		t.Errorf("subscription address = %q, %v; want %q", subAddr, err, moved.Address)
	}
	if n := len(e.outbox(t)); n != 3 {
		t.Errorf("%d events, want one per issued license (3)", n)
	}
}

func TestEnsureRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-known", ""))
	ctx := t.Context()
	if _, _, err := e.svc.Ensure(ctx, "ws-unknown", ""); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("unknown workspace: %v, want ErrWorkspaceNotFound", err)
	}
	if _, err := e.store.Workspace(ctx, "ws-unknown"); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("an unknown workspace was stored: %v", err)
	}
	for _, addr := range []string{"https://", "chat example.com", strings.Repeat("a", domain.MaxAddressLength+1)} {
		_, _, err := e.svc.Ensure(ctx, "ws-known", addr)
		if !errors.Is(err, domain.ErrInvalidAddress) {
			t.Errorf("address %q: %v, want ErrInvalidAddress", addr, err)
		}
	}
	if _, _, err := e.svc.Ensure(ctx, "", ""); !errors.Is(err, validate.ErrInvalid) {
		t.Errorf("empty workspace id: %v, want a validation error", err)
	}
	if e.registry.Calls() != 1 || len(e.outbox(t)) != 0 {
		t.Errorf("bad requests reached the registry (%d calls) or issued something", e.registry.Calls())
	}
}

func TestUnknownInitialPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-gone", "platinum"))
	if _, _, err := e.svc.Ensure(t.Context(), "ws-gone", ""); !errors.Is(err, domain.ErrPlanNotFound) {
		t.Errorf("Ensure = %v, want ErrPlanNotFound", err)
	}
}

func TestConcurrentEnsureHasNoGapsOrDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-race", ""))
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		// Each goroutine reports its own address, so each must issue, and a
		// twin reporting the same address must not issue again.
		for range 2 {
			wg.Go(func() {
				_, _, err := e.svc.Ensure(t.Context(), "ws-race", fmt.Sprintf("site-%d.example.com", i))
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ls, err := e.store.Licenses(t.Context(), "ws-race")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, l := range ls {
		seqs = append(seqs, l.Sequence)
		e.verify(t, l)
	}
	slices.Sort(seqs)
	// Twins may interleave (a, b, a): at least one license per address, and
	// sequences 1..len with no gap and no duplicate whatever the order.
	if len(seqs) < n {
		t.Fatalf("%d licenses, want at least %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sequences = %v, want 1..%d", seqs, len(seqs))
		}
	}
	if events := e.outbox(t); len(events) != len(seqs) {
		t.Errorf("%d events for %d licenses", len(events), len(seqs))
	}
}

func TestConcurrentEnsureSameAddressIssuesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-same", ""))
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	issuedCount := 0
	for range n {
		wg.Go(func() {
			l, issued, err := e.svc.Ensure(t.Context(), "ws-same", "chat.example.com")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[l.ID] = true
			if issued {
				issuedCount++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || issuedCount != 1 {
		t.Errorf("%d distinct licenses, %d issued; want one license issued once", len(ids), issuedCount)
	}
}

func TestFreeLicenseRenewsPastHalfItsValidity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-renew", ""))
	ctx := t.Context()
	first, _, err := e.svc.Ensure(ctx, "ws-renew", "chat.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.svc.now = func() time.Time { return first.ExpiresAt.Add(-10 * 24 * time.Hour) }
	renewed, issued, err := e.svc.Ensure(ctx, "ws-renew", "")
	if err != nil {
		t.Fatal(err)
	}
	if !issued || renewed.Sequence != 2 || renewed.Address != "chat.example.com" || !renewed.ExpiresAt.After(*first.ExpiresAt) {
		t.Errorf("renewed = %+v, issued %v; want sequence 2, same binding, later expiry", renewed, issued)
	}
}

func TestIssuedDocumentCarriesTheContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t, workspace("ws-doc", "enterprise"))
	l, _, err := e.svc.Ensure(t.Context(), "ws-doc", "https://chat.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	doc, hdr, err := license.Verify(l.Token, e.keys.KeyFor())
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Alg != "RS256" || hdr.Kid != e.keys.Key.ID || l.KeyID != e.keys.Key.ID {
		t.Errorf("header = %+v, license kid %q, want RS256 and kid %q", hdr, l.KeyID, e.keys.Key.ID)
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	in, v := doc.Information, doc.Validation
	checks := map[string]bool{
		"version 3.0":                         doc.Version == "3.0",
		"information.id is the license id":    in.ID == l.ID,
		"information.createdAt is issuedAt":   in.CreatedAt == license.FormatTime(l.IssuedAt),
		"information.grantedBy.method manual": in.GrantedBy.Method == license.GrantedManually,
		"not a trial, not offline":            !in.Trial && !in.Offline,
		"autoRenew from the plan":             in.AutoRenew,
		"serverUrls bound to the address":     len(v.ServerURLs) == 1 && v.ServerURLs[0].Value == "chat.example.com" && v.ServerURLs[0].Type == license.URLTypeURL,
		"cloudWorkspaceId":                    v.CloudWorkspaceID == "ws-doc",
		"fair policy at the expiry": len(v.ValidPeriods) == 2 && v.ValidPeriods[0].ValidUntil == license.FormatTime(*l.ExpiresAt) &&
			v.ValidPeriods[0].ValidFrom == "" && v.ValidPeriods[0].InvalidBehavior == license.BehaviorStartFairPolicy,
		"invalidated after 30 days' grace": len(v.ValidPeriods) == 2 && v.ValidPeriods[1].ValidUntil == license.FormatTime(l.ExpiresAt.AddDate(0, 0, 30)) &&
			v.ValidPeriods[1].InvalidBehavior == license.BehaviorInvalidateLicense,
		"warnings 30 and 7 days ahead": in.NotifyAdminsAt == license.FormatTime(domain.StartOfUTCDay(l.ExpiresAt.AddDate(0, 0, -30))) &&
			in.NotifyUsersAt == license.FormatTime(domain.StartOfUTCDay(l.ExpiresAt.AddDate(0, 0, -7))),
		"visual expiration, cancellable": in.VisualExpiration == license.FormatTime(*l.ExpiresAt) && in.Cancellable != nil && *in.Cancellable,
		"statisticsReport":               v.StatisticsReport != nil && v.StatisticsReport.Required,
		"every known module":             len(doc.GrantedModules) == len(license.KnownModules),
		"limits":                         len(doc.Limits.ActiveUsers) == 1 && doc.Limits.ActiveUsers[0].Max == 2000 && len(doc.Limits.MonthlyActiveContacts) == 1,
		"cloudMeta": doc.CloudMeta != nil && *doc.CloudMeta == license.CloudMeta{
			WorkspaceID: "ws-doc", CustomerID: "cus_ws-doc", PlanID: "enterprise", PlanName: "Enterprise", PlanVersion: l.PlanVersion, Sequence: 1, SupportPlan: "plus",
		},
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("document: %s fails: %+v", name, doc)
		}
	}
	// No exp or nbf: validity is the periods' business, not the JWT library's.
	_, payload := signertest.Payload(t, l.Token)
	for _, claim := range []string{"exp", "nbf"} {
		if _, ok := payload[claim]; ok {
			t.Errorf("payload carries %q", claim)
		}
	}
	if s := doc.Summarize(time.Now()); !s.Valid {
		t.Errorf("summary of a fresh license: %v", s.Problems)
	}
}
