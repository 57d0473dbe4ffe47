package e2e

// Conformance of the registration exchanges of the workspace protocol
// (PROTOCOL.md sections 1, 2a, 2b, 2c, 3, 6's deregistration and 8), written
// from the protocol as a stock workspace calls them: exact paths, methods,
// content types, status codes, member names and JSON types, and every error
// case the protocol lists. The e-mail confirmation runs against an SMTP
// server inside the test process; the test follows the link in the mail.

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/testenv"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

const jsonCT = "application/json"

var intentShape = map[string]string{
	"device_code": "string", "user_code": "string", "verification_url": "string", "interval": "integer", "expires_in": "integer",
}

var pollPayloadShape = map[string]string{
	"workspaceId": "string", "client_name": "string", "client_id": "string", "client_secret": "string",
	"client_secret_expires_at": "integer", "redirect_uris": "array", "publicKey": "string", "registration_client_uri": "string",
	"licenseData": "object",
}

// wizardData is the registration data a setup wizard sends.
func wizardData(unique, email string) string {
	b, _ := json.Marshal(map[string]any{
		"uniqueId": unique, "workspaceId": "", "address": "https://" + unique + ".wizard.test", "siteName": "Chat " + unique,
		"contactName": "Ada Admin", "contactEmail": email, "seats": 3, "MAC": 0, "allowMarketing": false,
		"accountName": "Org " + unique, "organizationType": "community", "industry": "technology", "orgSize": "1-10",
		"country": "worldwide", "language": "en", "agreePrivacyTerms": true, "website": "", "workspaceType": "community",
		"deploymentMethod": "docker", "deploymentPlatform": "linux", "version": "7.2.1", "licenseVersion": 3,
		"enterpriseReady": false, "setupComplete": false, "npsEnabled": true, "connectionDisable": false,
	})
	return string(b)
}

var linkPattern = regexp.MustCompile(`https?://\S+/register/confirm\?code=\S+`)

// nextMail waits for the next confirmation e-mail and returns its link.
func nextMail(t *testing.T, smtp *testenv.SMTPServer, to, userCode string) string {
	t.Helper()
	select {
	case m := <-smtp.C:
		msg, err := m.Message()
		if err != nil {
			t.Fatalf("mail does not parse: %v", err)
		}
		body, _ := io.ReadAll(msg.Body)
		if len(m.To) != 1 || m.To[0] != to || msg.Header.Get("To") != to || msg.Header.Get("Message-ID") == "" {
			t.Fatalf("mail envelope %v, headers %v; want to %s", m.To, msg.Header, to)
		}
		if !strings.Contains(string(body), userCode) {
			t.Fatalf("mail does not carry the user code %s:\n%s", userCode, body)
		}
		link := linkPattern.FindString(string(body))
		if link == "" {
			t.Fatalf("no confirmation link in the mail:\n%s", body)
		}
		return link
	case <-time.After(30 * time.Second):
		t.Fatal("no confirmation e-mail within 30s")
	}
	return ""
}

// page fetches an HTML page of the gateway.
func page(t *testing.T, method, target string, form url.Values) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = http.PostForm(target, form)
	} else {
		resp, err = http.Get(target)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("%s %s: Content-Type %q", method, target, ct)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s %s: framing or referrer not restricted: %v", method, target, resp.Header)
	}
	return resp.StatusCode, string(b)
}

// decide follows the mail's link and presses a button of the page.
func decide(t *testing.T, link, decision string) {
	t.Helper()
	status, html := page(t, http.MethodGet, link, nil)
	if status != http.StatusOK || !strings.Contains(html, `value="confirm"`) || !strings.Contains(html, `value="reject"`) {
		t.Fatalf("confirmation page %d:\n%s", status, html)
	}
	u, _ := url.Parse(link)
	form := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(html)
	if form == nil {
		t.Fatalf("no form action on the page")
	}
	code := regexp.MustCompile(`name="code" value="([^"]+)"`).FindStringSubmatch(html)
	if code == nil || code[1] != u.Query().Get("code") {
		t.Fatalf("the form does not carry the link's code")
	}
	action := u.Scheme + "://" + u.Host + form[1]
	status, html = page(t, http.MethodPost, action, url.Values{"code": {code[1]}, "decision": {decision}})
	if status != http.StatusOK {
		t.Fatalf("%s: %d\n%s", decision, status, html)
	}
}

const pollPath = "/api/v2/register/workspace/poll?token="

// pollOnTime polls once the interval has passed since the last poll.
func pollOnTime(t *testing.T, sys *system, device string) exchange {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // the interval is 1s in these tests
	return call(t, sys, http.MethodGet, pollPath+url.QueryEscape(device), "", "", "")
}

func TestConformanceSetupWizardRegistration(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	sys := startSystem(t, false, "SMTP_ADDR="+smtp.Addr, "SMTP_FROM=Cloud <cloud@licensing.test>", "INTENT_POLL_INTERVAL=1s")
	ws := workspace.New(sys.GatewayURL)
	admin := adminClient(t, sys)
	verifyURL := sys.GatewayURL + "/register/confirm"

	t.Run("pre-intent", func(t *testing.T) {
		x := call(t, sys, http.MethodPost, "/api/v2/register/workspace/pre-intent", "", jsonCT, wizardData("pre", "a@pre.test"))
		if x.status != http.StatusOK {
			t.Fatalf("pre-intent: %d %s", x.status, x.raw)
		}
		call(t, sys, http.MethodPost, "/api/v2/register/workspace/pre-intent", "", jsonCT, `{"address":"https://a.test","version":"7.0.0"}`).
			fails(t, http.StatusBadRequest, "invalid_registration_data", "uniqueId")
		call(t, sys, http.MethodPost, "/api/v2/register/workspace/pre-intent", "", jsonCT, `not json`).
			fails(t, http.StatusBadRequest, "invalid_request", "json")
		call(t, sys, http.MethodPost, "/api/v2/register/workspace/pre-intent", "", jsonCT, `{"uniqueId":7,"address":"https://a.test","version":"7"}`).
			fails(t, http.StatusBadRequest, "invalid_request", "uniqueId")
	})

	t.Run("intent errors", func(t *testing.T) {
		const p = "/api/v2/register/workspace/intent"
		call(t, sys, http.MethodPost, p, "", jsonCT, `{"uniqueId":"u","address":"https://a.test"}`).fails(t, http.StatusBadRequest, "invalid_registration_data", "version")
		call(t, sys, http.MethodPost, p, "", jsonCT, wizardData("noemail", "")).fails(t, http.StatusBadRequest, "invalid_registration_data", "contactEmail")
		call(t, sys, http.MethodPost, p, "", jsonCT, wizardData("bademail", "not-an-address")).fails(t, http.StatusBadRequest, "invalid_registration_data", "contactEmail")
		call(t, sys, http.MethodPost, p, "", jsonCT, `[]`).fails(t, http.StatusBadRequest, "invalid_request", "object")
		call(t, sys, http.MethodPost, p+"?resent=maybe", "", jsonCT, wizardData("q", "a@q.test")).fails(t, http.StatusBadRequest, "invalid_request", "resent")
		call(t, sys, http.MethodGet, pollPath, "", "", "").fails(t, http.StatusBadRequest, "invalid_request", "token")
		call(t, sys, http.MethodGet, pollPath+"dc_unknown", "", "", "").fails(t, http.StatusBadRequest, "expired_token", "unknown")
		if n := len(smtp.Mails()); n != 0 {
			t.Fatalf("%d mails sent for refused intents", n)
		}
	})

	t.Run("confirm, poll every state, first use ends the hold", func(t *testing.T) {
		const email = "ada@wizard.test"
		x := call(t, sys, http.MethodPost, "/api/v2/register/workspace/intent?resent=false", "", jsonCT, wizardData("wiz1", email))
		in := x.ok(t, intentShape)
		device, user := in["device_code"].(string), in["user_code"].(string)
		if in["verification_url"] != verifyURL || in["interval"] != float64(1) || in["expires_in"].(float64) < 1700 {
			t.Fatalf("intent = %v", in)
		}
		link := nextMail(t, smtp, email, user)
		if !strings.HasPrefix(link, verifyURL+"?code=") {
			t.Fatalf("link %q is not the verification URL with a code", link)
		}

		call(t, sys, http.MethodGet, pollPath+url.QueryEscape(device), "", "", "").ok(t, map[string]string{"status": "string"})
		call(t, sys, http.MethodGet, pollPath+url.QueryEscape(device), "", "", "").fails(t, http.StatusBadRequest, "slow_down", "interval")
		if got := pollOnTime(t, sys, device).ok(t, map[string]string{"status": "string"}); got["status"] != "authorization_pending" {
			t.Fatalf("poll = %v", got)
		}

		// resent=true: the same intent, mailed again with the same link.
		again := call(t, sys, http.MethodPost, "/api/v2/register/workspace/intent?resent=true", "", jsonCT, wizardData("wiz1", email)).ok(t, intentShape)
		if again["device_code"] != device || again["user_code"] != user {
			t.Fatalf("resent intent = %v, want the pending one", again)
		}
		if link2 := nextMail(t, smtp, email, user); link2 != link {
			t.Fatalf("re-sent link %q differs from %q", link2, link)
		}

		decide(t, link, "confirm")
		var payload map[string]any
		eventually(t, 30*time.Second, "the confirmed poll", func() (bool, error) {
			x := pollOnTime(t, sys, device)
			if x.status != http.StatusOK || x.body["successful"] != true {
				return false, nil
			}
			wantShape(t, "poll", x.body, map[string]string{"successful": "bool", "payload": "object"})
			payload = x.body["payload"].(map[string]any)
			return true, nil
		})
		wantShape(t, "payload", payload, pollPayloadShape)
		wsID := payload["workspaceId"].(string)
		if len(wsID) != 24 || payload["client_secret_expires_at"] != float64(0) || payload["client_name"] != "Chat wiz1" ||
			payload["registration_client_uri"] != sys.GatewayURL+"/api/v2/workspaces/"+wsID {
			t.Fatalf("payload = %v", payload)
		}
		ld := payload["licenseData"].(map[string]any)
		wantShape(t, "licenseData", ld, licenseDataShape)
		if ld["version"] != float64(3) {
			t.Errorf("licenseData.version = %v", ld["version"])
		}
		wantISO(t, "licenseData.updatedAt", ld["updatedAt"])
		acceptedLicense(t, ld["license"].(string), payload["publicKey"].(string), "wiz1.wizard.test")

		// A lost answer loses nothing: the same payload again.
		x = pollOnTime(t, sys, device)
		if x.status != http.StatusOK || x.body["payload"].(map[string]any)["client_secret"] != payload["client_secret"] {
			t.Fatalf("repeated poll: %d %s", x.status, x.raw)
		}
		// The customer: created for the contact, named after accountName.
		w, err := admin.Registry.GetWorkspace(t.Context(), &registryv1.GetWorkspaceRequest{Id: wsID})
		if err != nil || w.GetWorkspace().GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED {
			t.Fatalf("workspace = %v, %v", w, err)
		}
		cus, err := admin.Registry.GetCustomer(t.Context(), &registryv1.GetCustomerRequest{Id: w.GetWorkspace().GetCustomerId()})
		if err != nil || cus.GetCustomer().GetName() != "Org wiz1" || cus.GetCustomer().GetContactEmail() != email {
			t.Fatalf("customer = %v, %v", cus, err)
		}

		// The workspace saves the credentials and syncs at once.
		tok, err := ws.Token(t.Context(), payload["client_id"].(string), payload["client_secret"].(string), workspace.DefaultScopes)
		if err != nil {
			t.Fatalf("access token with the polled credentials: %v", err)
		}
		if _, err := ws.Sync(t.Context(), wsID, tok.AccessToken, workspace.RegistrationData{UniqueID: "wiz1", WorkspaceID: wsID,
			Address: "https://wiz1.wizard.test", Version: "7.2.1"}); err != nil {
			t.Fatalf("sync: %v", err)
		}
		// First use ends the hold: the secret is gone.
		pollOnTime(t, sys, device).fails(t, http.StatusBadRequest, "expired_token", "used")
		execSQL(t, sys, `DO $$ BEGIN IF EXISTS (SELECT 1 FROM registry.registration_intents WHERE client_secret_sealed IS NOT NULL) THEN RAISE EXCEPTION 'a secret is still held'; END IF; END $$`)

		// The link after the decision shows it, and cannot reject any more.
		if status, html := page(t, http.MethodGet, link, nil); status != http.StatusOK || strings.Contains(html, `value="reject"`) {
			t.Fatalf("page after confirmation: %d\n%s", status, html)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		in := call(t, sys, http.MethodPost, "/api/v2/register/workspace/intent", "", jsonCT, wizardData("wiz2", "bob@wizard.test")).ok(t, intentShape)
		decide(t, nextMail(t, smtp, "bob@wizard.test", in["user_code"].(string)), "reject")
		pollOnTime(t, sys, in["device_code"].(string)).fails(t, http.StatusBadRequest, "access_denied", "rejected")
	})

	t.Run("expired", func(t *testing.T) {
		in := call(t, sys, http.MethodPost, "/api/v2/register/workspace/intent", "", jsonCT, wizardData("wiz3", "cy@wizard.test")).ok(t, intentShape)
		link := nextMail(t, smtp, "cy@wizard.test", in["user_code"].(string))
		execSQL(t, sys, `UPDATE registry.registration_intents SET expires_at = now() WHERE unique_id = 'wiz3'`)
		pollOnTime(t, sys, in["device_code"].(string)).fails(t, http.StatusBadRequest, "expired_token", "expired")
		if status, _ := page(t, http.MethodPost, sys.GatewayURL+"/register/confirm", url.Values{"code": {mustCode(t, link)}, "decision": {"confirm"}}); status != http.StatusGone {
			t.Fatalf("confirming an expired intent: %d, want 410", status)
		}
		if status, _ := page(t, http.MethodPost, sys.GatewayURL+"/register/confirm", url.Values{"code": {"cc_forged"}, "decision": {"confirm"}}); status != http.StatusNotFound {
			t.Fatalf("confirming with a forged code: %d, want 404", status)
		}
	})

	t.Run("legacy register", func(t *testing.T) {
		x := call(t, sys, http.MethodPost, "/api/v2/register/workspace?resend=false", "", jsonCT, wizardData("old1", "dee@wizard.test"))
		id := x.ok(t, map[string]string{"id": "string"})["id"].(string)
		w, err := admin.Registry.GetWorkspace(t.Context(), &registryv1.GetWorkspaceRequest{Id: id})
		if err != nil || w.GetWorkspace().GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_PENDING {
			t.Fatalf("legacy workspace before confirmation = %v, %v; want pending", w, err)
		}
		var userCode string
		execQuery(t, sys, `SELECT user_code FROM registry.registration_intents WHERE workspace_id = $1`, []any{id}, &userCode)
		link := nextMail(t, smtp, "dee@wizard.test", userCode)
		// resend=true mails the same link again and answers the same id.
		if again := call(t, sys, http.MethodPost, "/api/v2/register/workspace?resend=true", "", jsonCT, wizardData("old1", "dee@wizard.test")).ok(t, map[string]string{"id": "string"}); again["id"] != id {
			t.Fatalf("resend id = %v, want %s", again["id"], id)
		}
		if l := nextMail(t, smtp, "dee@wizard.test", userCode); l != link {
			t.Fatal("the re-sent mail links elsewhere")
		}
		decide(t, link, "confirm")
		w, err = admin.Registry.GetWorkspace(t.Context(), &registryv1.GetWorkspaceRequest{Id: id})
		if err != nil || w.GetWorkspace().GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED {
			t.Fatalf("legacy workspace after confirmation = %v, %v", w, err)
		}
		call(t, sys, http.MethodPost, "/api/v2/register/workspace", "", jsonCT, `{"uniqueId":"x"}`).fails(t, http.StatusBadRequest, "invalid_registration_data", "address")
	})
}

func mustCode(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
}

func execQuery(t *testing.T, sys *system, sql string, args []any, dst ...any) {
	t.Helper()
	db := connect(t, sys.DatabaseURL)
	if err := db.QueryRow(t.Context(), sql, args...).Scan(dst...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestConformanceTokenRegistrationAndCredentials: 2b with a multi-use token
// (its use count visible through licensectl), revocation, and section 3's
// oauth_invalid_client_credentials only for really invalid credentials,
// including those of a deregistered workspace.
func TestConformanceTokenRegistrationAndCredentials(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	cus := createCustomer(t, sys, "Fleet")
	out, errOut, err := sys.Licensectl(t.Context(), "", "tokens", "create", "-customer", cus, "-max-uses", "3", "-o", "json")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, errOut)
	}
	var created struct {
		Secret string `json:"secret"`
		Token  struct {
			ID string `json:"id"`
		} `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	body := `{"email":"ops@fleet.test","client_name":"Fleet chat","redirect_uris":[]}`
	var creds []workspace.Credentials
	for i := range 2 {
		x := call(t, sys, http.MethodPost, "/api/oauth/clients", created.Secret, jsonCT, body)
		if x.status != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i, x.status, x.raw)
		}
		wantShape(t, "registration", x.body, map[string]string{"workspaceId": "string", "client_name": "string", "client_id": "string",
			"client_secret": "string", "client_secret_expires_at": "integer", "redirect_uris": "array", "publicKey": "string", "registration_client_uri": "string"})
		var c workspace.Credentials
		b, _ := json.Marshal(x.body)
		_ = json.Unmarshal(b, &c)
		creds = append(creds, c)
	}
	for _, args := range [][]string{{"tokens", "get", created.Token.ID}, {"tokens", "list", "-customer", cus}} {
		out, errOut, err := sys.Licensectl(t.Context(), "", args...)
		if err != nil || !strings.Contains(out, created.Token.ID) || !strings.Contains(out, "2/3") {
			t.Fatalf("licensectl %v: %v\n%s%s; want the use count 2/3", args, err, out, errOut)
		}
	}
	if _, errOut, err := sys.Licensectl(t.Context(), "", "tokens", "revoke", created.Token.ID); err != nil {
		t.Fatalf("revoke: %v %s", err, errOut)
	}
	call(t, sys, http.MethodPost, "/api/oauth/clients", created.Secret, jsonCT, body).fails(t, http.StatusUnauthorized, "invalid_registration_token", "revoked")

	// Section 3 and 6: valid credentials work; RFC 6749 errors for bad
	// requests; deregistration revokes the credentials.
	a := creds[0]
	if _, err := ws.Token(t.Context(), a.ClientID, a.ClientSecret, workspace.DefaultScopes); err != nil {
		t.Fatalf("token: %v", err)
	}
	form := func(v url.Values) exchange {
		return call(t, sys, http.MethodPost, "/api/oauth/token", "", "application/x-www-form-urlencoded", v.Encode())
	}
	form(url.Values{"grant_type": {"password"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}).fails(t, http.StatusBadRequest, "unsupported_grant_type", "password")
	form(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {"nothing:known"}}).fails(t, http.StatusBadRequest, "invalid_scope", "scope")
	form(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}}).fails(t, http.StatusBadRequest, "invalid_request", "client_secret")
	form(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {"cs_wrong"}}).fails(t, http.StatusUnauthorized, "oauth_invalid_client_credentials", "invalid")

	if out, errOut, err := sys.Licensectl(t.Context(), "", "workspaces", "deregister", "-reason", "test", a.WorkspaceID); err != nil || !strings.Contains(out, "deregistered") {
		t.Fatalf("deregister: %v\n%s%s", err, out, errOut)
	}
	form(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {workspace.DefaultScopes}}).
		fails(t, http.StatusUnauthorized, "oauth_invalid_client_credentials", "revoked")
	// The other workspace of the token is untouched.
	if _, err := ws.Token(t.Context(), creds[1].ClientID, creds[1].ClientSecret, workspace.DefaultScopes); err != nil {
		t.Fatalf("the other workspace's token: %v", err)
	}
}

// TestConformanceOfflineRegistration is section 8 through licensectl: the
// client key from a file and from stdin, the cloud blob's shape, and every
// malformed key named.
func TestConformanceOfflineRegistration(t *testing.T) {
	sys := startSystem(t, false)
	cus := createCustomer(t, sys, "Bunker")
	data := `{"uniqueId":"bunker-1","workspaceId":"","address":"https://chat.bunker.test","siteName":"Bunker Chat","contactEmail":"ops@bunker.test","seats":40,"MAC":0,"version":"7.2.1","licenseVersion":3,"setupComplete":true}`
	key := base64.StdEncoding.EncodeToString([]byte(data))
	file := filepath.Join(t.TempDir(), "client-key.txt")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct{ name, stdin, arg string }{{"file", "", file}, {"stdin", key, "-"}} {
		t.Run(src.name, func(t *testing.T) {
			out, errOut, err := sys.Licensectl(t.Context(), src.stdin, "register-offline", "-customer", cus, src.arg)
			if err != nil {
				t.Fatalf("register-offline: %v\n%s", err, errOut)
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("cloud blob is not base64: %v (%q)", err, out)
			}
			var blob map[string]any
			if err := json.Unmarshal(raw, &blob); err != nil {
				t.Fatalf("cloud blob is not JSON: %v", err)
			}
			wantShape(t, "cloud blob", blob, map[string]string{"workspaceId": "string", "client_name": "string", "client_id": "string",
				"client_secret": "string", "client_secret_expires_at": "integer", "publicKey": "string", "registration_client_uri": "string", "licenseData": "object"})
			ld := blob["licenseData"].(map[string]any)
			wantShape(t, "licenseData", ld, map[string]string{"license": "string"})
			doc := acceptedLicense(t, ld["license"].(string), blob["publicKey"].(string), "chat.bunker.test")
			if info, _ := doc["information"].(map[string]any); info["offline"] != true {
				t.Errorf("information.offline = %v, want true", info["offline"])
			}
		})
	}
	bad := []struct{ name, key, says string }{
		{"not base64", "%%%not-base64%%%", "not base64"},
		{"truncated", key[:len(key)-5], "truncated"},
		{"not JSON", base64.StdEncoding.EncodeToString([]byte("uniqueId=1")), "not JSON"},
		{"not an object", base64.StdEncoding.EncodeToString([]byte(`["a"]`)), "not a JSON object"},
		{"missing uniqueId", base64.StdEncoding.EncodeToString([]byte(`{"address":"https://a.test","version":"7.0.0"}`)), "uniqueId: required"},
		{"wrong type", base64.StdEncoding.EncodeToString([]byte(`{"uniqueId":"u","address":"https://a.test","version":"7.0.0","seats":"many"}`)), "seats: must be a number"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, errOut, err := sys.Licensectl(t.Context(), b.key, "register-offline", "-customer", cus, "-")
			if err == nil || !strings.Contains(errOut, b.says) || !strings.Contains(errOut, "INVALID_CLIENT_KEY") {
				t.Fatalf("register-offline with a key %s: %v\n%s; want an error saying %q", b.name, err, errOut, b.says)
			}
		})
	}
	admin := adminClient(t, sys)
	list, err := admin.Registry.ListWorkspaces(t.Context(), &registryv1.ListWorkspacesRequest{CustomerId: cus})
	if err != nil || len(list.GetWorkspaces()) != 2 {
		t.Fatalf("workspaces after 2 good and %d bad keys: %v, %v", len(bad), list, err)
	}
}
