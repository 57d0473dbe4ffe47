package e2e

import (
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

// syncer is a registered workspace that syncs through the gateway and
// verifies what it receives with the public key alone, as a stock workspace
// does.
type syncer struct {
	t      *testing.T
	ws     *workspace.Client
	id     string
	access string
	pub    *rsa.PublicKey
	data   workspace.RegistrationData
	// seq is the sequence of the last license received: each later one must
	// be higher.
	seq int64
}

// next syncs until the workspace receives a license newer than its last
// one, and returns it verified.
func (s *syncer) next(what string) *license.Document {
	s.t.Helper()
	var doc *license.Document
	eventually(s.t, 20*time.Second, what+" on the next sync", func() (bool, error) {
		resp, err := s.ws.Sync(s.t.Context(), s.id, s.access, s.data)
		if err != nil {
			return false, err
		}
		if resp.RemoveLicense {
			return false, nil
		}
		d, err := license.VerifyWithKey(resp.License, s.pub)
		if err != nil {
			s.t.Fatalf("%s: the license does not verify: %v", what, err)
		}
		if d.CloudMeta.Sequence < s.seq {
			s.t.Fatalf("%s: sync returned license %d after %d (a rollback)", what, d.CloudMeta.Sequence, s.seq)
		}
		if d.CloudMeta.Sequence == s.seq {
			return false, nil
		}
		doc = d
		return true, nil
	})
	s.seq = doc.CloudMeta.Sequence
	return doc
}

func seats(d *license.Document) int {
	if len(d.Limits.ActiveUsers) == 0 {
		return -1
	}
	return d.Limits.ActiveUsers[0].Max
}

// TestLicenseLifecycle drives a workspace through trial -> purchase -> seat
// increase -> cancellation with licensectl and sees each step on its next
// sync; then suspension and reinstatement with the Go client; then an
// offline license that licensectl verifies with the public key alone.
func TestLicenseLifecycle(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	customerID := createCustomer(t, sys, "Lifecycle Inc")
	token := createToken(t, sys, customerID, "", 1)

	ws := workspace.New(sys.GatewayURL)
	creds, err := ws.Register(ctx, token, "admin@lifecycle.test", "Lifecycle Chat")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	pub, err := keys.ParsePublicKey(creds.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, workspace.DefaultScopes)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	s := &syncer{t: t, ws: ws, id: creds.WorkspaceID, access: tok.AccessToken, pub: pub,
		data: workspace.RegistrationData{UniqueID: "unique-life", WorkspaceID: creds.WorkspaceID, Address: "https://chat.lifecycle.test", Version: "7.2.1", Seats: 12, MAC: 3}}
	ctl := func(args ...string) string {
		t.Helper()
		out, errOut, err := sys.Licensectl(ctx, "", args...)
		if err != nil {
			t.Fatalf("licensectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	// Registered without a plan: the free Starter license, bound to the site.
	doc := s.next("the first license")
	if doc.CloudMeta.PlanID != "starter" || doc.Information.Trial || !doc.MatchesAddress("chat.lifecycle.test") {
		t.Fatalf("first license: %+v %+v", doc.CloudMeta, doc.Information)
	}

	// 1. A Pro trial.
	ctl("trial", "start", s.id, "-plan", "pro", "-customer", customerID)
	doc = s.next("the trial license")
	if doc.CloudMeta.PlanID != "pro" || !doc.Information.Trial || seats(doc) != 500 || len(doc.GrantedModules) == 0 {
		t.Fatalf("trial license: %+v %+v limits %+v", doc.CloudMeta, doc.Information, doc.Limits)
	}
	trialEnd, _ := license.ParseTime(doc.Validation.ValidPeriods[0].ValidUntil)
	if d := time.Until(trialEnd); d < 29*24*time.Hour || d > 32*24*time.Hour || trialEnd.Format("15:04:05.000") != "23:59:59.999" {
		t.Errorf("trial ends %s, want the end of the UTC day 30 days on", doc.Validation.ValidPeriods[0].ValidUntil)
	}

	// 2. The purchase: the trial becomes paid Pro with 25 seats.
	out := ctl("trial", "convert", s.id, "-seats", "25", "-method", "sales", "-o", "json")
	var conv struct {
		License struct{ Sequence string } `json:"license"`
	}
	if err := json.Unmarshal([]byte(out), &conv); err != nil || conv.License.Sequence == "" {
		t.Fatalf("trial convert output %q: %v", out, err)
	}
	doc = s.next("the purchased license")
	if doc.CloudMeta.PlanID != "pro" || doc.Information.Trial || seats(doc) != 25 || doc.Information.GrantedBy.Method != license.GrantedBySales {
		t.Fatalf("purchased license: %+v %+v seats %d", doc.CloudMeta, doc.Information, seats(doc))
	}

	// 3. More seats.
	ctl("subscriptions", "grant", s.id, "-plan", "pro", "-seats", "40")
	doc = s.next("the seat increase")
	if doc.CloudMeta.PlanID != "pro" || seats(doc) != 40 {
		t.Fatalf("after the seat increase: %+v seats %d", doc.CloudMeta, seats(doc))
	}
	ent := ctl("subscriptions", "get", s.id)
	for _, want := range []string{"paid", "Pro (pro, version 2)", "activeUsers=40", "standard, 12x5"} {
		if !strings.Contains(ent, want) {
			t.Errorf("subscriptions get lacks %q:\n%s", want, ent)
		}
	}

	// 4. Cancel now: back to the free plan, a higher sequence (an explicit,
	// signed downgrade).
	ctl("cancel", s.id)
	doc = s.next("the free license after cancelling")
	if doc.CloudMeta.PlanID != "starter" || doc.Information.Trial || seats(doc) != 50 || len(doc.GrantedModules) != 0 {
		t.Fatalf("after cancelling: %+v seats %d", doc.CloudMeta, seats(doc))
	}
	if _, errOut, err := sys.Licensectl(ctx, "", "cancel", s.id); err == nil || !strings.Contains(errOut, "NO_PAID_SUBSCRIPTION") {
		t.Errorf("cancelling a cancelled subscription: %v %s", err, errOut)
	}

	// 5. Suspension withdraws the license; reinstatement issues a new one.
	admin, err := sys.Client(sys.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	sus, err := admin.Subscriptions.SuspendSubscription(ctx, &signerv1.SuspendSubscriptionRequest{IdempotencyKey: "e2e-suspend", WorkspaceId: s.id, Reason: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "removeLicense on sync", func() (bool, error) {
		resp, err := ws.Sync(ctx, s.id, s.access, s.data)
		return err == nil && resp.RemoveLicense, err
	})
	view, err := admin.Sync.GetSyncView(ctx, &syncv1.GetSyncViewRequest{WorkspaceId: s.id})
	if err != nil || view.GetView().GetLicenseSequence() != sus.GetWithdrawnSequence() {
		t.Errorf("view after suspension: %v, %v; want sequence %d", view, err, sus.GetWithdrawnSequence())
	}
	s.seq = sus.GetWithdrawnSequence()
	if _, err := admin.Subscriptions.ReinstateSubscription(ctx, &signerv1.ReinstateSubscriptionRequest{IdempotencyKey: "e2e-reinstate", WorkspaceId: s.id}); err != nil {
		t.Fatal(err)
	}
	doc = s.next("the license after reinstatement")
	if doc.CloudMeta.PlanID != "starter" || doc.CloudMeta.Sequence <= sus.GetWithdrawnSequence() {
		t.Fatalf("after reinstatement: %+v", doc.CloudMeta)
	}

	// 6. An offline license for the workspace, written to a file, verifies
	// with the public key alone.
	file := filepath.Join(t.TempDir(), "offline.txt")
	ctl("offline", "issue", s.id, "-o", file)
	raw, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(raw), "RCV3_") {
		t.Fatalf("offline license file: %q, %v", raw, err)
	}
	out = ctl("license", "verify", "-public-key-v2", keys.PublicKeyV2(pub), "-address", "https://chat.lifecycle.test", file)
	for _, want := range []string{"signature:   verified", "offline: true", s.id, ": VALID"} {
		if !strings.Contains(out, want) {
			t.Errorf("license verify of the offline license lacks %q:\n%s", want, out)
		}
	}

	// The history has every step, newest first, with strictly decreasing
	// sequences (the withdrawal took one too).
	hist, err := admin.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: s.id})
	if err != nil {
		t.Fatal(err)
	}
	ls := hist.GetLicenses()
	if len(ls) < 7 || !ls[0].GetOffline() {
		t.Fatalf("history: %d licenses, newest %v", len(ls), ls[0])
	}
	for i := 1; i < len(ls); i++ {
		if ls[i].GetSequence() >= ls[i-1].GetSequence() {
			t.Fatalf("history not strictly newest first: %d then %d", ls[i-1].GetSequence(), ls[i].GetSequence())
		}
	}
	if out := ctl("history", s.id); !strings.Contains(out, "offline") || !strings.Contains(out, "trial") {
		t.Errorf("licensectl history:\n%s", out)
	}
	// The usage the workspace reported is kept, beside its license's limits.
	if out := ctl("usage", "get", s.id); !strings.Contains(out, "activeUsers 50") || !strings.Contains(out, "12") {
		t.Errorf("licensectl usage get:\n%s", out)
	}
}

// TestPlansAsData edits plans with licensectl, without a deploy: a plan is
// exported, changed and published as its next version; a new plan is created
// from a file; a definition whose licenses would not validate is refused,
// naming the field.
func TestPlansAsData(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	dir := t.TempDir()
	ctl := func(args ...string) (string, string, error) { return sys.Licensectl(ctx, "", args...) }

	out, errOut, err := ctl("plans", "get", "pro", "-export")
	if err != nil {
		t.Fatalf("plans get -export: %v %s", err, errOut)
	}
	var file map[string]any
	if err := json.Unmarshal([]byte(out), &file); err != nil || file["id"] != "pro" {
		t.Fatalf("exported plan %q: %v", out, err)
	}
	file["name"] = "Pro 2027"
	edited, _ := json.Marshal(file)
	path := filepath.Join(dir, "pro.json")
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err = ctl("plans", "update", "pro", "-f", path, "-expected-version", "2", "-o", "json"); err != nil {
		t.Fatalf("plans update: %v %s", err, errOut)
	}
	var updated struct {
		Plan struct {
			Version int    `json:"version"`
			Name    string `json:"name"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &updated); err != nil || updated.Plan.Version != 3 || updated.Plan.Name != "Pro 2027" {
		t.Fatalf("plans update output %q: %v", out, err)
	}
	// The previous version is still there, for the licenses that name it.
	if out, _, err = ctl("plans", "get", "pro", "-version", "2"); err != nil || !strings.Contains(out, "Pro ") {
		t.Errorf("plans get -version 2: %v\n%s", err, out)
	}

	team := `{"id": "team", "name": "Team", "free": false, "modules": ["auditing"], "definition": {
		"limits": {"activeUsers": [{"max": 25, "behavior": "prevent_action"}]}, "termDays": 90,
		"statisticsReport": {"required": true}, "supportPlan": "standard", "coverage": "12x5",
		"firstResponseHours": {"high": 8, "medium": 24, "low": 48}, "autoRenew": true}}`
	bad := strings.Replace(team, `"prevent_action"`, `"shrug"`, 1)
	badPath := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(badPath, []byte(bad), 0o600)
	if _, errOut, err = ctl("plans", "create", "-f", badPath); err == nil || !strings.Contains(errOut, "definition_json.limits.activeUsers[0].behavior") {
		t.Errorf("a plan that would not validate: %v\n%s", err, errOut)
	}
	teamPath := filepath.Join(dir, "team.json")
	_ = os.WriteFile(teamPath, []byte(team), 0o600)
	if out, errOut, err = ctl("plans", "create", "-f", teamPath); err != nil || !strings.Contains(out, "team") {
		t.Fatalf("plans create: %v %s\n%s", err, errOut, out)
	}
	if out, _, err = ctl("plans", "list"); err != nil || !strings.Contains(out, "team") || !strings.Contains(out, "Pro 2027") {
		t.Errorf("plans list: %v\n%s", err, out)
	}
}
