package server_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/server"
)

func regData(unique, email string) *registryv1.RegistrationData {
	return &registryv1.RegistrationData{
		UniqueId: unique, Address: "https://chat.example.com", Version: "7.2.1", SiteName: "Example Chat",
		ContactEmail: email, AccountName: "Example Org", RawJson: `{"uniqueId":"` + unique + `"}`,
	}
}

const verifyURL = "https://cloud.example.com/register/confirm"

// confirmCode reads the confirmation code of a workspace's intent as the
// mailer does (the test's sealer is the server's).
func (e *env) confirmCode(t *testing.T, workspaceID string) string {
	t.Helper()
	var id string
	var sealed []byte
	if err := e.pool.QueryRow(t.Context(), `SELECT id, confirm_code_sealed FROM registration_intents WHERE workspace_id = $1`, workspaceID).Scan(&id, &sealed); err != nil {
		t.Fatal(err)
	}
	code, err := e.opts.Sealer.Open(id, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// poll polls until the answer is not slow_down.
func (e *env) poll(t *testing.T, device string) *registryv1.PollIntentResponse {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := e.svc.PollIntent(t.Context(), &registryv1.PollIntentRequest{DeviceCode: device})
		if err != nil {
			t.Fatalf("PollIntent: %v", err)
		}
		if resp.GetStatus() != registryv1.IntentStatus_INTENT_STATUS_SLOW_DOWN || time.Now().After(deadline) {
			return resp
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIntentConfirmAndPoll(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *server.Options) { o.PollInterval = 100 * time.Millisecond })
	ctx := t.Context()
	existing, err := e.admin.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: "Acme", ContactEmail: "Admin@Acme.test"})
	if err != nil {
		t.Fatal(err)
	}

	in, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-1", "admin@acme.test"), VerificationUrl: verifyURL})
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	if !strings.HasPrefix(in.GetDeviceCode(), "dc_") || in.GetUserCode() == "" || in.GetVerificationUrl() != verifyURL ||
		in.GetInterval() != 1 || in.GetExpiresIn() < 1790 || !workspaceID.MatchString(in.GetWorkspaceId()) {
		t.Fatalf("CreateIntent = %v", in)
	}
	// Stored: a pending workspace, the intent with hashed codes, the mail request.
	if n := e.count(t, `SELECT count(*) FROM workspaces WHERE id = $1 AND state = 'pending' AND customer_id IS NULL`, in.GetWorkspaceId()); n != 1 {
		t.Fatalf("pending workspace rows: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM registration_intents WHERE device_code_hash = $1`, domain.HashCode(in.GetDeviceCode())); n != 1 {
		t.Fatal("the device code is not stored by hash")
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectRegistrationIntentCreated); n != 1 {
		t.Fatalf("intent_created events: %d", n)
	}

	// Resend: the same intent, the same codes, one more mail request.
	again, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-1", "ADMIN@acme.test"), VerificationUrl: verifyURL, Resend: true})
	if err != nil || again.GetDeviceCode() != in.GetDeviceCode() || again.GetWorkspaceId() != in.GetWorkspaceId() || again.GetUserCode() != in.GetUserCode() {
		t.Fatalf("resend = %v, %v; want the same intent", again, err)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectRegistrationIntentResent); n != 1 {
		t.Fatalf("intent_resent events: %d", n)
	}

	if got := e.poll(t, in.GetDeviceCode()).GetStatus(); got != registryv1.IntentStatus_INTENT_STATUS_PENDING {
		t.Fatalf("poll before confirmation = %v", got)
	}
	if resp, err := e.svc.PollIntent(ctx, &registryv1.PollIntentRequest{DeviceCode: in.GetDeviceCode()}); err != nil || resp.GetStatus() != registryv1.IntentStatus_INTENT_STATUS_SLOW_DOWN {
		t.Fatalf("immediate second poll = %v, %v; want slow_down", resp, err)
	}

	code := e.confirmCode(t, in.GetWorkspaceId())
	view, err := e.svc.GetIntentByCode(ctx, &registryv1.GetIntentByCodeRequest{Code: code})
	if err != nil || view.GetIntent().GetState() != "pending" || view.GetIntent().GetUserCode() != in.GetUserCode() {
		t.Fatalf("GetIntentByCode = %v, %v", view, err)
	}
	conf, err := e.svc.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: code})
	if err != nil {
		t.Fatalf("ConfirmIntent: %v", err)
	}
	ws := conf.GetWorkspace()
	// The rule: the customer whose contact e-mail is the intent's (case-insensitive).
	if ws.GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED || ws.GetCustomerId() != existing.GetCustomer().GetId() {
		t.Fatalf("confirmed workspace = %v, want registered for %s", ws, existing.GetCustomer().GetId())
	}
	if _, err := e.svc.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: code}); err != nil {
		t.Fatalf("second confirmation: %v, want a no-op", err)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1 AND headers->>$2 = '1'`, events.SubjectWorkspaceRegistered, events.HeaderAggregateSeq); n != 1 {
		t.Fatalf("workspace.registered events: %d, want 1", n)
	}
	_, err = e.svc.RejectIntent(ctx, &registryv1.RejectIntentRequest{Code: code})
	wantStatus(t, err, codes.FailedPrecondition, "INTENT_CONFIRMED")

	// The same credentials on every poll until they are used.
	var first *registryv1.PollIntentResponse
	for i := range 2 {
		resp := e.poll(t, in.GetDeviceCode())
		if resp.GetStatus() != registryv1.IntentStatus_INTENT_STATUS_CONFIRMED || resp.GetClientSecret() == "" || resp.GetAddress() != "https://chat.example.com" {
			t.Fatalf("poll %d after confirmation = %v", i, resp)
		}
		if first == nil {
			first = resp
		} else if resp.GetClientId() != first.GetClientId() || resp.GetClientSecret() != first.GetClientSecret() {
			t.Fatalf("repeated poll gave other credentials")
		}
	}
	if e.count(t, `SELECT count(*) FROM registration_intents WHERE client_secret_sealed IS NOT NULL AND position($1 in encode(client_secret_sealed, 'escape')) = 0`, first.GetClientSecret()) != 1 {
		t.Fatal("the held secret is not sealed")
	}
	e.tokens.use(first.GetClientId())
	if got := e.poll(t, in.GetDeviceCode()).GetStatus(); got != registryv1.IntentStatus_INTENT_STATUS_EXPIRED {
		t.Fatalf("poll after the credentials were used = %v, want expired", got)
	}
	if n := e.count(t, `SELECT count(*) FROM registration_intents WHERE client_secret_sealed IS NULL AND secret_erased_at IS NOT NULL`); n != 1 {
		t.Fatal("the secret was not erased after first use")
	}
}

func TestIntentRejectExpireAndErrors(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *server.Options) { o.PollInterval = 100 * time.Millisecond })
	ctx := t.Context()

	in, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-2", "new@globex.test"), VerificationUrl: verifyURL})
	if err != nil {
		t.Fatal(err)
	}
	code := e.confirmCode(t, in.GetWorkspaceId())
	for range 2 { // idempotent
		if _, err := e.svc.RejectIntent(ctx, &registryv1.RejectIntentRequest{Code: code}); err != nil {
			t.Fatalf("RejectIntent: %v", err)
		}
	}
	if got := e.poll(t, in.GetDeviceCode()).GetStatus(); got != registryv1.IntentStatus_INTENT_STATUS_REJECTED {
		t.Fatalf("poll after rejection = %v", got)
	}
	_, err = e.svc.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: code})
	wantStatus(t, err, codes.FailedPrecondition, "INTENT_REJECTED")
	// A resend for a rejected intent makes a new one.
	fresh, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-2", "new@globex.test"), VerificationUrl: verifyURL, Resend: true})
	if err != nil || fresh.GetDeviceCode() == in.GetDeviceCode() {
		t.Fatalf("resend after rejection = %v, %v; want a new intent", fresh, err)
	}

	// Expiry.
	if _, err := e.pool.Exec(ctx, `UPDATE registration_intents SET expires_at = now() WHERE workspace_id = $1`, fresh.GetWorkspaceId()); err != nil {
		t.Fatal(err)
	}
	if got := e.poll(t, fresh.GetDeviceCode()).GetStatus(); got != registryv1.IntentStatus_INTENT_STATUS_EXPIRED {
		t.Fatalf("poll after expiry = %v", got)
	}
	_, err = e.svc.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: e.confirmCode(t, fresh.GetWorkspaceId())})
	wantStatus(t, err, codes.FailedPrecondition, "INTENT_EXPIRED")

	// Mails are capped per intent.
	third, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-3", "x@globex.test"), VerificationUrl: verifyURL})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= domain.MaxIntentMails; i++ {
		if _, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-3", "x@globex.test"), VerificationUrl: verifyURL, Resend: true}); err != nil {
			t.Fatalf("resend %d: %v", i, err)
		}
	}
	_, err = e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-3", "x@globex.test"), VerificationUrl: verifyURL, Resend: true})
	wantStatus(t, err, codes.ResourceExhausted, "TOO_MANY_MAILS")
	_ = third

	// Bad input, named.
	bad := regData("", "not-an-email")
	bad.Version = ""
	_, err = e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: bad, VerificationUrl: verifyURL})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_REGISTRATION_DATA")
	fields := map[string]bool{}
	for _, f := range rpcerr.Fields(err) {
		fields[f.Field] = true
	}
	if !fields["uniqueId"] || !fields["version"] || !fields["contactEmail"] {
		t.Fatalf("fields named: %v", fields)
	}
	_, err = e.svc.PollIntent(ctx, &registryv1.PollIntentRequest{DeviceCode: "dc_unknown"})
	wantStatus(t, err, codes.NotFound, "INTENT_NOT_FOUND")
	_, err = e.svc.GetIntentByCode(ctx, &registryv1.GetIntentByCodeRequest{Code: "cc_unknown"})
	wantStatus(t, err, codes.NotFound, "INTENT_NOT_FOUND")
}

func TestConfirmCreatesCustomerForNewContact(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	in, err := e.svc.CreateIntent(ctx, &registryv1.CreateIntentRequest{Data: regData("u-9", "boss@initech.test"), VerificationUrl: verifyURL})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := e.svc.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: e.confirmCode(t, in.GetWorkspaceId())})
	if err != nil {
		t.Fatal(err)
	}
	cus, err := e.admin.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: conf.GetWorkspace().GetCustomerId()})
	if err != nil || cus.GetCustomer().GetName() != "Example Org" || cus.GetCustomer().GetContactEmail() != "boss@initech.test" {
		t.Fatalf("customer = %v, %v; want one named after accountName with the contact", cus, err)
	}
}

func TestRegisterOffline(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	cus := e.customer(t, "Air Gap Inc")
	e.signer.notFound = 2 // the signer hears of the workspace a little later
	key := base64.StdEncoding.EncodeToString([]byte(`{"uniqueId":"ag-1","address":"https://chat.airgap.test","version":"7.2.1","siteName":"Air Chat","seats":5}`))
	resp, err := e.admin.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: key, CustomerId: cus})
	if err != nil {
		t.Fatalf("RegisterOffline: %v", err)
	}
	ws := resp.GetWorkspace()
	if ws.GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED || ws.GetCustomerId() != cus || ws.GetUniqueId() != "ag-1" || !resp.GetOffline() {
		t.Fatalf("workspace = %v offline=%v", ws, resp.GetOffline())
	}
	raw, err := base64.StdEncoding.DecodeString(resp.GetCloudBlob())
	if err != nil {
		t.Fatal(err)
	}
	var blob map[string]any
	if err := json.Unmarshal(raw, &blob); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"workspaceId": ws.GetId(), "client_name": "Air Chat", "client_id": resp.GetClientId(), "client_secret": resp.GetClientSecret(),
		"client_secret_expires_at": float64(0), "registration_client_uri": "https://cloud.example.com/api/v2/workspaces/" + ws.GetId(),
	}
	for k, v := range want {
		if blob[k] != v {
			t.Errorf("blob[%s] = %v, want %v", k, blob[k], v)
		}
	}
	if lic, _ := blob["licenseData"].(map[string]any); lic["license"] != "RCV3_offline."+ws.GetId() {
		t.Errorf("blob licenseData = %v", blob["licenseData"])
	}
	if pk, _ := blob["publicKey"].(string); !strings.Contains(pk, "BEGIN PUBLIC KEY") {
		t.Errorf("blob publicKey = %q", pk)
	}

	_, err = e.admin.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: "%%%", CustomerId: cus})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_CLIENT_KEY")
	_, err = e.admin.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: key, CustomerId: "cus_missing"})
	wantStatus(t, err, codes.NotFound, "CUSTOMER_NOT_FOUND")
	if n := e.count(t, `SELECT count(*) FROM workspaces`); n != 1 {
		t.Fatalf("%d workspaces after refused registrations, want 1", n)
	}
}

func TestDeregisterWorkspace(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	cus := e.customer(t, "Acme")
	key := base64.StdEncoding.EncodeToString([]byte(`{"uniqueId":"d-1","address":"https://chat.d.test","version":"7.2.1"}`))
	reg, err := e.admin.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: key, CustomerId: cus})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.GetWorkspace().GetId()
	for i, want := range []int32{1, 0} {
		resp, err := e.admin.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: id, Reason: "contract ended"})
		if err != nil || resp.GetWorkspace().GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_DEREGISTERED || resp.GetCredentialsRevoked() != want {
			t.Fatalf("deregister #%d = %v, %v", i+1, resp, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1 AND headers->>$2 = $3 AND headers->>$4 = '2'`,
		events.SubjectWorkspaceDeregistered, events.HeaderAggregateID, id, events.HeaderAggregateSeq); n != 1 {
		t.Fatalf("workspace.deregistered events with sequence 2: %d, want 1", n)
	}
	_, err = e.admin.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: "ws-missing"})
	wantStatus(t, err, codes.NotFound, "WORKSPACE_NOT_FOUND")
}
