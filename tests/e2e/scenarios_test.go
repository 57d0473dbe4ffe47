package e2e

// Scenarios: each documented situation of a workspace after registration,
// run end to end as the stock workspace lives it.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
	"google.golang.org/grpc/codes"
)

// legacyWorkspace is what an older workspace keeps: the license it applied
// and the updatedAt it came with.
type legacyWorkspace struct {
	license   string
	updatedAt time.Time
}

// pull is the legacy client's round: POST WS/client, then GET WS/license,
// applying the license only when its updatedAt is newer than its own. It
// reports whether it applied one.
func (l *legacyWorkspace) pull(t *testing.T, ws *workspace.Client, r registered, data workspace.RegistrationData) bool {
	t.Helper()
	sync, err := ws.LegacySync(t.Context(), r.creds.WorkspaceID, r.full, data)
	if err != nil {
		t.Fatalf("legacy sync: %v", err)
	}
	if sync.NPS == nil || sync.Announcements == nil || sync.Banners == nil || sync.WorkspaceID != r.creds.WorkspaceID {
		t.Fatalf("legacy sync lacks what the stock client checks: %+v", sync)
	}
	data3, err := ws.License(t.Context(), r.creds.WorkspaceID, r.full)
	if err != nil {
		t.Fatalf("license fetch: %v", err)
	}
	at, err := time.Parse(time.RFC3339Nano, data3.UpdatedAt)
	if err != nil {
		t.Fatalf("updatedAt %q: %v", data3.UpdatedAt, err)
	}
	// JavaScript dates: whole milliseconds.
	at = at.Truncate(time.Millisecond)
	if !at.After(l.updatedAt) {
		if data3.License != l.license {
			t.Fatalf("the license changed (%v) but updatedAt did not move past %v", at, l.updatedAt)
		}
		return false
	}
	l.license, l.updatedAt = data3.License, at
	return true
}

// TestScenarioRegisteredWorkspace: a SaaS workspace and a self-managed
// registered one, each on the current sync and on the legacy client with its
// license fetch, end with the same license, bound to their address and
// verifying with the key the registration handed out.
func TestScenarioRegisteredWorkspace(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Scenario")
	for _, tc := range []struct {
		name, plan, address, stripped string
	}{
		{"SaaS", "pro", "https://acme.cloud.example", "acme.cloud.example"},
		{"self-managed registered", "", "http://Chat.Acme.Internal:3000/", "chat.acme.internal:3000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registerWorkspace(t, sys, ws, createToken(t, sys, customer, tc.plan, 1), strings.ReplaceAll(tc.name, " ", "-"), tc.address)
			pub, err := keys.ParsePublicKey(r.creds.PublicKey)
			if err != nil {
				t.Fatal(err)
			}

			// Current version: sync.
			cur, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			doc, err := license.VerifyWithKey(cur.License, pub)
			if err != nil || cur.RemoveLicense || !doc.MatchesAddress(tc.address) {
				t.Fatalf("sync license: %v (removeLicense %v, matches %v)", err, cur.RemoveLicense, err == nil && doc.MatchesAddress(tc.address))
			}

			// Legacy: client, then the license fetch.
			var old legacyWorkspace
			if !old.pull(t, ws, r, r.data) || old.license != cur.License {
				t.Fatalf("the legacy client did not get the sync's license")
			}
			if old.pull(t, ws, r, r.data) {
				t.Fatal("the legacy client applied the same license twice")
			}

			// The site moves: both kinds of client end with a license for
			// the new address, and the legacy one sees it as newer.
			moved := r.data
			moved.Address = "https://new-" + tc.stripped
			var applied bool
			eventually(t, 20*time.Second, "the license for the new address on the legacy client", func() (bool, error) {
				applied = applied || old.pull(t, ws, r, moved)
				return applied, nil
			})
			doc, err = license.VerifyWithKey(old.license, pub)
			if err != nil || !doc.MatchesAddress(moved.Address) {
				t.Fatalf("legacy license after the move: %v", err)
			}
			cur, err = ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, moved)
			if err != nil || cur.License != old.license {
				t.Fatalf("sync after the move returned another license (%v)", err)
			}
			acceptedLicense(t, cur.License, r.creds.PublicKey, "new-"+tc.stripped)
		})
	}
}

// TestScenarioCancelSubscription: a paid workspace presses "Cancel
// Subscription"; its next sync, and the legacy fetch, return the Starter
// license; pressing again finds nothing to cancel.
func TestScenarioCancelSubscription(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	admin := adminClient(t, sys)
	r := registerWorkspace(t, sys, ws, createToken(t, sys, createCustomer(t, sys, "Cancel"), "pro", 1), "cancel", "https://cancel.example.com")
	cur, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
	if err != nil || planOf(t, cur.License) != "pro" {
		t.Fatalf("first sync: %v, plan %q", err, planOf(t, cur.License))
	}
	var old legacyWorkspace
	old.pull(t, ws, r, r.data)
	requireSubscriptions(t, admin, r.creds.WorkspaceID)

	if err := ws.Downgrade(t.Context(), r.creds.WorkspaceID, r.full); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	after, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
	if err != nil {
		t.Fatal(err)
	}
	if plan := planOf(t, after.License); plan != "starter" || after.RemoveLicense {
		t.Fatalf("after cancelling: plan %q removeLicense %v, want starter", plan, after.RemoveLicense)
	}
	doc := acceptedLicense(t, after.License, r.creds.PublicKey, "cancel.example.com")
	if info := doc["information"].(map[string]any); info["trial"] != false {
		t.Fatalf("the Starter license is a trial: %v", info)
	}
	if !old.pull(t, ws, r, r.data) || old.license != after.License {
		t.Fatal("the legacy client did not take the Starter license as newer")
	}
	err = ws.Downgrade(t.Context(), r.creds.WorkspaceID, r.full)
	wantError(t, err, http.StatusConflict, "no_paid_subscription", "")

	ent, err := admin.Subscriptions.GetEntitlement(t.Context(), &signerv1.GetEntitlementRequest{WorkspaceId: r.creds.WorkspaceID})
	if err != nil || ent.GetEntitlement().GetSubscription().GetPlanId() != "starter" {
		t.Fatalf("entitlement after cancelling: %v %v", ent, err)
	}
}

// TestScenarioTrialOnLegacySync: a workspace on the free plan starts a trial
// of a paid plan; the legacy sync describes the trial and what it falls back
// to.
func TestScenarioTrialOnLegacySync(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	admin := adminClient(t, sys)
	r := registerWorkspace(t, sys, ws, createToken(t, sys, createCustomer(t, sys, "Trial"), "", 1), "trial", "https://trial.example.com")
	if _, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data); err != nil {
		t.Fatal(err)
	}
	first, err := ws.LegacySync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
	if err != nil || first.Trial != nil {
		t.Fatalf("legacy sync before the trial: %+v %v", first.Trial, err)
	}
	requireSubscriptions(t, admin, r.creds.WorkspaceID)
	if _, err := admin.Subscriptions.StartTrial(t.Context(), &signerv1.StartTrialRequest{
		IdempotencyKey: "trial-1", WorkspaceId: r.creds.WorkspaceID, PlanId: "pro",
	}); err != nil {
		t.Fatalf("start trial: %v", err)
	}
	var got workspace.LegacySyncResponse
	eventually(t, 20*time.Second, "the trial in the legacy sync", func() (bool, error) {
		got, err = ws.LegacySync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
		return err == nil && got.Trial != nil, err
	})
	tr := got.Trial
	end, err := time.Parse(time.RFC3339Nano, tr.EndDate)
	if !tr.Trialing || tr.TrialID == "" || err != nil || !end.After(time.Now().Add(20*24*time.Hour)) || tr.DowngradesToPlan.ID != "starter" {
		t.Fatalf("trial %+v (endDate %v)", tr, err)
	}
}

// TestScenarioDeregisteredWorkspace: an internal client deregisters a
// workspace; its sync says removeLicense (with the access token it still
// holds) and its next token request is oauth_invalid_client_credentials,
// which makes the workspace forget its registration.
func TestScenarioDeregisteredWorkspace(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	admin := adminClient(t, sys)
	r := registerWorkspace(t, sys, ws, createToken(t, sys, createCustomer(t, sys, "Gone"), "pro", 1), "gone", "https://gone.example.com")
	cur, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
	if err != nil || cur.RemoveLicense {
		t.Fatalf("sync before: %+v %v", cur, err)
	}
	_, err = admin.Registry.DeregisterWorkspace(t.Context(), &registryv1.DeregisterWorkspaceRequest{Id: r.creds.WorkspaceID, Reason: "contract ended"})
	if rpcerr.Code(err) == codes.Unimplemented {
		t.Fatalf("the registry does not serve DeregisterWorkspace yet: %v", err)
	}
	if err != nil {
		t.Fatalf("deregister: %v", err)
	}
	eventually(t, 20*time.Second, "removeLicense on sync", func() (bool, error) {
		cur, err = ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, r.data)
		return err == nil && cur.RemoveLicense, err
	})
	// Moving the site does not get a removed workspace a new license.
	moved := r.data
	moved.Address = "https://elsewhere.example.com"
	if again, err := ws.Sync(t.Context(), r.creds.WorkspaceID, r.full, moved); err != nil || !again.RemoveLicense {
		t.Fatalf("sync from a new address after deregistration: %+v %v", again, err)
	}
	if data, err := ws.License(t.Context(), r.creds.WorkspaceID, r.full); err != nil || data.License != "" {
		t.Fatalf("legacy fetch after deregistration: %+v %v", data, err)
	}
	_, err = ws.Token(t.Context(), r.creds.ClientID, r.creds.ClientSecret, workspace.DefaultScopes)
	wantError(t, err, http.StatusUnauthorized, "oauth_invalid_client_credentials", "")
}
