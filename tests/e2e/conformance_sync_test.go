package e2e

// Conformance of the post-registration exchanges of the workspace protocol
// (PROTOCOL.md sections 4, 5 and 6, and the license of section 9), written
// from the protocol as a stock workspace calls them: exact paths, methods,
// content types, status codes, member names and JSON types, and every error
// case the protocol lists. Each test starts one system and walks its
// exchange's cases in subtests.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
	"google.golang.org/grpc/codes"
)

// registered is one workspace registered through the gateway, with access
// tokens of several scope sets.
type registered struct {
	creds workspace.Credentials
	// full holds every default scope; licenseOnly only workspace:license:read;
	// clientOnly only workspace:client:write.
	full, licenseOnly, clientOnly string
	data                          workspace.RegistrationData
}

func registerWorkspace(t *testing.T, sys *system, ws *workspace.Client, token, name, address string) registered {
	t.Helper()
	ctx := t.Context()
	creds, err := ws.Register(ctx, token, "admin@"+name+".test", name)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	r := registered{creds: creds, data: workspace.RegistrationData{
		UniqueID: "unique-" + name, WorkspaceID: creds.WorkspaceID, Address: address, SiteName: name, Seats: 5, MAC: 2, Version: "7.2.1",
	}}
	for _, s := range []struct {
		dst   *string
		scope string
	}{{&r.full, workspace.DefaultScopes}, {&r.licenseOnly, "workspace:license:read"}, {&r.clientOnly, "workspace:client:write"}} {
		tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, s.scope)
		if err != nil {
			t.Fatalf("access token %q for %s: %v", s.scope, name, err)
		}
		*s.dst = tok.AccessToken
	}
	return r
}

// wsPath is a path under the workspace's WS URL.
func (r registered) wsPath(suffix string) string {
	return "/api/v2/workspaces/" + r.creds.WorkspaceID + suffix
}

func (r registered) body(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(r.data)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exchange is one raw HTTP exchange with the gateway.
type exchange struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func call(t *testing.T, sys *system, method, path, bearer, contentType, body string) exchange {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, sys.GatewayURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	x := exchange{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &x.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
	}
	return x
}

// ok asserts a 200 whose members are exactly spec (see wantShape).
func (x exchange) ok(t *testing.T, spec map[string]string) map[string]any {
	t.Helper()
	if x.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", x.status, x.raw)
	}
	wantShape(t, "body", x.body, spec)
	return x.body
}

// fails asserts the protocol's error answer: status, error code, and a
// description that names what is wrong.
func (x exchange) fails(t *testing.T, status int, code, descContains string) {
	t.Helper()
	if x.status != status {
		t.Fatalf("status %d, want %d: %s", x.status, status, x.raw)
	}
	wantShape(t, "error", x.body, map[string]string{"error": "string", "error_description": "string"})
	if x.body["error"] != code || !strings.Contains(strings.ToLower(x.body["error_description"].(string)), strings.ToLower(descContains)) {
		t.Fatalf("error %v, want %q with a description containing %q", x.body, code, descContains)
	}
}

// wantShape checks that obj has exactly the members of spec, each of the
// JSON type named: string, number, integer, bool, null, object, array, or
// several joined by "|"; a name ending in "?" may be absent.
func wantShape(t *testing.T, what string, obj map[string]any, spec map[string]string) {
	t.Helper()
	for name, kinds := range spec {
		key, optional := strings.CutSuffix(name, "?")
		v, present := obj[key]
		if !present {
			if !optional {
				t.Errorf("%s: member %q missing (got %v)", what, key, obj)
			}
			continue
		}
		if !slices.Contains(strings.Split(kinds, "|"), jsonType(v)) {
			t.Errorf("%s: member %q is %s (%v), want %s", what, key, jsonType(v), v, kinds)
		}
	}
	for key := range obj {
		if _, ok := spec[key]; !ok {
			if _, ok := spec[key+"?"]; !ok {
				t.Errorf("%s: unexpected member %q", what, key)
			}
		}
	}
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

func wantISO(t *testing.T, what string, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	if !isoTime.MatchString(s) {
		t.Fatalf("%s = %v, want an ISO-8601 UTC time", what, v)
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return at
}

// commonErrors are the errors every WS/... endpoint answers alike: no or a
// bad token, a token without the scope, another workspace's URL, and (for
// bodies) the workspaceId of another workspace and a body that is no JSON
// object.
func commonErrors(t *testing.T, sys *system, method, suffix, scope string, a, b registered, withBody bool) {
	t.Helper()
	body, ctype := "", ""
	if withBody {
		body, ctype = a.body(t), "application/json"
	}
	wrongScope := a.licenseOnly
	if scope == "workspace:license:read" {
		wrongScope = a.clientOnly
	}
	t.Run("no access token", func(t *testing.T) {
		x := call(t, sys, method, a.wsPath(suffix), "", ctype, body)
		x.fails(t, http.StatusUnauthorized, "invalid_token", "missing")
		if !strings.Contains(x.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("WWW-Authenticate = %q", x.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("malformed access token", func(t *testing.T) {
		call(t, sys, method, a.wsPath(suffix), "not-a-token", ctype, body).fails(t, http.StatusUnauthorized, "invalid_token", "invalid")
	})
	t.Run("token without "+scope, func(t *testing.T) {
		call(t, sys, method, a.wsPath(suffix), wrongScope, ctype, body).fails(t, http.StatusForbidden, "insufficient_scope", scope)
	})
	t.Run("another workspace's URL", func(t *testing.T) {
		call(t, sys, method, b.wsPath(suffix), a.full, ctype, body).fails(t, http.StatusNotFound, "not_found", "workspace")
	})
	if !withBody {
		return
	}
	t.Run("another workspace's id in the body", func(t *testing.T) {
		d := a.data
		d.WorkspaceID = b.creds.WorkspaceID
		raw, _ := json.Marshal(d)
		call(t, sys, method, a.wsPath(suffix), a.full, "application/json", string(raw)).fails(t, http.StatusBadRequest, "invalid_request", "workspaceId")
	})
	t.Run("body not JSON", func(t *testing.T) {
		call(t, sys, method, a.wsPath(suffix), a.full, "application/json", "uniqueId=u").fails(t, http.StatusBadRequest, "invalid_request", "JSON")
	})
	t.Run("member of the wrong type", func(t *testing.T) {
		call(t, sys, method, a.wsPath(suffix), a.full, "application/json", `{"uniqueId":"u","address":"x.test","version":"7.2.1","seats":"many"}`).
			fails(t, http.StatusBadRequest, "invalid_request", "seats")
	})
}

// twoWorkspaces starts a system with two workspaces of one customer on plan.
func twoWorkspaces(t *testing.T, plan string) (*system, *workspace.Client, registered, registered) {
	t.Helper()
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Conformance")
	token := createToken(t, sys, customer, plan, 2)
	a := registerWorkspace(t, sys, ws, token, "alpha", "https://alpha.conformance.test")
	b := registerWorkspace(t, sys, ws, token, "beta", "https://beta.conformance.test")
	return sys, ws, a, b
}

func adminClient(t *testing.T, sys *system) *client.Client {
	t.Helper()
	c, err := sys.Client(sys.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var syncShape = map[string]string{"workspaceId": "string", "publicKey": "string", "license": "string", "removeLicense": "bool", "cloudSyncAnnouncement": "null|object"}

var legacySyncShape = map[string]string{
	"workspaceId": "string", "publicKey": "string", "trial?": "object", "nps": "object", "banners": "array", "announcements": "object",
}

var licenseDataShape = map[string]string{
	"version": "integer", "address": "string", "license": "string", "updatedAt": "string", "modules": "string", "expireAt": "string|null",
}

var announcementShape = map[string]string{
	"_id": "string", "_updatedAt": "string", "selector": "object", "platform": "array", "expireAt": "string", "startAt": "string",
	"createdBy": "string", "createdAt": "string", "dictionary": "object", "view": "object", "surface": "string",
}

// TestConformanceSync is section 4's sync: POST WS/sync.
func TestConformanceSync(t *testing.T) {
	sys, _, a, b := twoWorkspaces(t, "pro")
	db := connect(t, sys.DatabaseURL)

	var first map[string]any
	t.Run("200 with exactly the members the workspace checks", func(t *testing.T) {
		first = call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", a.body(t)).ok(t, syncShape)
		if first["workspaceId"] != a.creds.WorkspaceID || first["removeLicense"] != false || first["cloudSyncAnnouncement"] != nil ||
			!strings.HasPrefix(first["license"].(string), "RCV3_") || first["publicKey"] != a.creds.PublicKey {
			t.Fatalf("sync answer %v", first)
		}
		acceptedLicense(t, first["license"].(string), a.creds.PublicKey, "alpha.conformance.test")
	})
	t.Run("usage stored with the stats scope, the report without", func(t *testing.T) {
		before := scalar(t, db, `SELECT count(*) FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`'`)
		d := a.data
		d.Seats, d.MAC = 77, 9
		raw, _ := json.Marshal(d)
		call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", string(raw)).ok(t, syncShape)
		call(t, sys, http.MethodPost, a.wsPath("/sync"), a.licenseOnly, "application/json", string(raw)).ok(t, syncShape)
		if n := scalar(t, db, `SELECT count(*) FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`'`); n != before+2 {
			t.Fatalf("%d reports stored, want %d", n, before+2)
		}
		if n := scalar(t, db, `SELECT seats FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`' ORDER BY id DESC LIMIT 1 OFFSET 1`); n != 77 {
			t.Fatalf("seats with the stats scope = %d, want 77", n)
		}
		if n := scalar(t, db, `SELECT seats FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`' ORDER BY id DESC LIMIT 1`); n != 0 {
			t.Fatalf("seats without the stats scope = %d, want them not stored", n)
		}
	})
	t.Run("a changed address gets a license for the new address", func(t *testing.T) {
		d := a.data
		d.Address = "https://moved.conformance.test/"
		raw, _ := json.Marshal(d)
		var lic string
		eventually(t, 20*time.Second, "a license for the new address", func() (bool, error) {
			x := call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", string(raw)).ok(t, syncShape)
			lic = x["license"].(string)
			return lic != first["license"], nil
		})
		acceptedLicense(t, lic, a.creds.PublicKey, "moved.conformance.test")
	})
	t.Run("invalid registration data", func(t *testing.T) {
		call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", `{"uniqueId":"u","address":"x.test"}`).
			fails(t, http.StatusBadRequest, "invalid_registration_data", "version")
	})
	commonErrors(t, sys, http.MethodPost, "/sync", "workspace:license:read", a, b, true)
}

// TestConformanceLegacySync is section 4's legacy sync (POST WS/client) and
// the legacy license fetch (GET WS/license?version=3).
func TestConformanceLegacySync(t *testing.T) {
	sys, _, a, b := twoWorkspaces(t, "pro")
	db := connect(t, sys.DatabaseURL)

	t.Run("legacy sync: 200 with nps, banners and announcements always present", func(t *testing.T) {
		before := scalar(t, db, `SELECT count(*) FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`'`)
		body := call(t, sys, http.MethodPost, a.wsPath("/client"), a.full, "application/json", a.body(t)).ok(t, legacySyncShape)
		if body["workspaceId"] != a.creds.WorkspaceID || body["publicKey"] != a.creds.PublicKey {
			t.Fatalf("legacy sync %v", body)
		}
		if _, trial := body["trial"]; trial {
			t.Fatalf("a paid workspace got a trial: %v", body["trial"])
		}
		nps := body["nps"].(map[string]any)
		wantShape(t, "nps", nps, map[string]string{"id": "string", "startAt": "string", "expireAt": "string"})
		if nps["id"] != "none" || nps["startAt"] != "1970-01-01T00:00:00Z" || nps["expireAt"] != "1970-01-01T00:00:00Z" {
			t.Fatalf("nps with no survey = %v", nps)
		}
		if len(body["banners"].([]any)) != 0 {
			t.Fatalf("banners = %v", body["banners"])
		}
		ann := body["announcements"].(map[string]any)
		wantShape(t, "announcements", ann, map[string]string{"create": "array", "delete": "array"})
		if n := scalar(t, db, `SELECT count(*) FROM sync.usage_reports WHERE workspace_id = '`+a.creds.WorkspaceID+`'`); n != before+1 {
			t.Fatalf("legacy sync stored %d reports, want 1", n-before)
		}
	})
	commonErrors(t, sys, http.MethodPost, "/client", "workspace:client:write", a, b, true)

	var fetched map[string]any
	t.Run("license fetch: 200 with version 3 as a number", func(t *testing.T) {
		fetched = call(t, sys, http.MethodGet, a.wsPath("/license?version=3"), a.full, "", "").ok(t, licenseDataShape)
		if fetched["version"] != float64(3) || fetched["address"] != "alpha.conformance.test" || !strings.HasPrefix(fetched["license"].(string), "RCV3_") {
			t.Fatalf("license data %v", fetched)
		}
		wantISO(t, "updatedAt", fetched["updatedAt"])
		if fetched["expireAt"] != nil {
			wantISO(t, "expireAt", fetched["expireAt"])
		}
		doc := acceptedLicense(t, fetched["license"].(string), a.creds.PublicKey, "alpha.conformance.test")
		var modules []string
		for _, m := range doc["grantedModules"].([]any) {
			modules = append(modules, m.(map[string]any)["module"].(string))
		}
		if fetched["modules"] != strings.Join(modules, ",") || len(modules) == 0 {
			t.Fatalf("modules %q, want the granted modules %v joined by commas", fetched["modules"], modules)
		}
	})
	t.Run("license fetch: updatedAt moves forward when the license changes", func(t *testing.T) {
		before := wantISO(t, "updatedAt", fetched["updatedAt"])
		again := call(t, sys, http.MethodGet, a.wsPath("/license?version=3"), a.full, "", "").ok(t, licenseDataShape)
		if again["updatedAt"] != fetched["updatedAt"] {
			t.Fatalf("updatedAt changed without a license change: %v -> %v", fetched["updatedAt"], again["updatedAt"])
		}
		d := a.data
		d.Address = "https://renamed.conformance.test"
		raw, _ := json.Marshal(d)
		call(t, sys, http.MethodPost, a.wsPath("/client"), a.full, "application/json", string(raw)).ok(t, legacySyncShape)
		var after map[string]any
		eventually(t, 20*time.Second, "the license for the new address in the fetch", func() (bool, error) {
			after = call(t, sys, http.MethodGet, a.wsPath("/license?version=3"), a.full, "", "").ok(t, licenseDataShape)
			return after["address"] == "renamed.conformance.test", nil
		})
		if at := wantISO(t, "updatedAt", after["updatedAt"]); !at.After(before) || after["license"] == fetched["license"] {
			t.Fatalf("updatedAt %v after %v with license changed %v", at, before, after["license"] != fetched["license"])
		}
	})
	for _, v := range []string{"?version=2", "?version=three", ""} {
		t.Run("license fetch: version "+v, func(t *testing.T) {
			call(t, sys, http.MethodGet, a.wsPath("/license"+v), a.full, "", "").fails(t, http.StatusBadRequest, "invalid_request", "version")
		})
	}
	commonErrors(t, sys, http.MethodGet, "/license?version=3", "workspace:license:read", a, b, false)
}

// TestConformanceComms is section 5: announcements created, targeted and
// withdrawn by an internal client (licensectl) and delivered on comms and
// legacy sync.
func TestConformanceComms(t *testing.T) {
	sys, _, a, b := twoWorkspaces(t, "pro")
	const comms = "/api/v3/comms/workspace"
	// The plan is read from the license the view holds: sync once.
	for _, w := range []registered{a, b} {
		call(t, sys, http.MethodPost, w.wsPath("/sync"), w.full, "application/json", w.body(t)).ok(t, syncShape)
	}
	create := func(t *testing.T, args ...string) string {
		t.Helper()
		base := []string{"announcements", "create", "-o", "json", "-dictionary", `{"en":{"title":"Hello","body":"Planned maintenance"}}`,
			"-view", `{"blocks":[{"type":"section","text":{"type":"plain_text","text":"Hello"}}]}`, "-expire", "48h"}
		out, errOut, err := sys.Licensectl(t.Context(), "", append(base, args...)...)
		if err != nil {
			t.Fatalf("licensectl announcements create %v: %v\n%s", args, err, errOut)
		}
		var resp struct {
			Announcement struct{ ID string } `json:"announcement"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Announcement.ID == "" {
			t.Fatalf("create output %q: %v", out, err)
		}
		return resp.Announcement.ID
	}
	deliver := func(t *testing.T, w registered) (created map[string]map[string]any, deleted []string) {
		t.Helper()
		body := call(t, sys, http.MethodPost, comms, w.full, "application/json", w.body(t)).ok(t, map[string]string{"nps?": "object", "announcements": "object"})
		ann := body["announcements"].(map[string]any)
		wantShape(t, "announcements", ann, map[string]string{"create": "array", "delete": "array"})
		created = map[string]map[string]any{}
		for _, c := range ann["create"].([]any) {
			obj := c.(map[string]any)
			wantShape(t, "announcement", obj, announcementShape)
			created[obj["_id"].(string)] = obj
		}
		for _, d := range ann["delete"].([]any) {
			deleted = append(deleted, d.(string))
		}
		sort.Strings(deleted)
		return created, deleted
	}

	t.Run("nothing to show", func(t *testing.T) {
		if c, d := deliver(t, a); len(c) != 0 || len(d) != 0 {
			t.Fatalf("create %v delete %v", c, d)
		}
	})
	var toAlpha, toPro, toOther string
	t.Run("created announcements reach the workspaces they target", func(t *testing.T) {
		toAlpha = create(t, "-workspace", a.creds.WorkspaceID, "-surface", "modal", "-platform", "web,mobile", "-role", "admin")
		toPro = create(t, "-plan", "pro")
		toOther = create(t, "-plan", "enterprise")
		ca, _ := deliver(t, a)
		cb, _ := deliver(t, b)
		if len(ca) != 2 || ca[toAlpha] == nil || ca[toPro] == nil || len(cb) != 1 || cb[toPro] == nil {
			t.Fatalf("alpha got %v, beta got %v; want alpha %s and %s, beta %s (not %s)", keysOf(ca), keysOf(cb), toAlpha, toPro, toPro, toOther)
		}
		x := ca[toAlpha]
		if x["surface"] != "modal" || x["createdBy"] != "cloud" || !slices.Equal(strSlice(x["platform"]), []string{"web", "mobile"}) ||
			!slices.Equal(strSlice(x["selector"].(map[string]any)["roles"]), []string{"admin"}) {
			t.Fatalf("announcement %v", x)
		}
		wantShape(t, "selector", x["selector"].(map[string]any), map[string]string{"roles": "array"})
		if ca[toPro]["surface"] != "banner" || !slices.Equal(strSlice(ca[toPro]["platform"]), []string{"web"}) {
			t.Fatalf("defaults: %v", ca[toPro])
		}
		for _, f := range []string{"_updatedAt", "startAt", "expireAt", "createdAt"} {
			wantISO(t, f, x[f])
		}
		if title := x["dictionary"].(map[string]any)["en"].(map[string]any)["title"]; title != "Hello" {
			t.Fatalf("dictionary %v", x["dictionary"])
		}
		legacy := call(t, sys, http.MethodPost, b.wsPath("/client"), b.full, "application/json", b.body(t)).ok(t, legacySyncShape)
		lc := legacy["announcements"].(map[string]any)["create"].([]any)
		if len(lc) != 1 || lc[0].(map[string]any)["_id"] != toPro {
			t.Fatalf("legacy sync announcements %v", lc)
		}
	})
	t.Run("withdrawn announcements are sent for deletion", func(t *testing.T) {
		if out, errOut, err := sys.Licensectl(t.Context(), "", "announcements", "withdraw", toPro); err != nil {
			t.Fatalf("withdraw: %v\n%s%s", err, out, errOut)
		}
		ca, da := deliver(t, a)
		cb, db := deliver(t, b)
		if len(ca) != 1 || ca[toAlpha] == nil || !slices.Equal(da, []string{toPro}) || len(cb) != 0 || !slices.Equal(db, []string{toPro}) {
			t.Fatalf("after withdrawal: alpha %v / %v, beta %v / %v", keysOf(ca), da, keysOf(cb), db)
		}
		legacy := call(t, sys, http.MethodPost, b.wsPath("/client"), b.full, "application/json", b.body(t)).ok(t, legacySyncShape)
		if d := strSlice(legacy["announcements"].(map[string]any)["delete"]); !slices.Equal(d, []string{toPro}) {
			t.Fatalf("legacy sync delete = %v", d)
		}
		out, _, err := sys.Licensectl(t.Context(), "", "announcements", "list")
		if err != nil || strings.Contains(out, toPro) || !strings.Contains(out, toAlpha) {
			t.Fatalf("list of live announcements: %v\n%s", err, out)
		}
	})
	t.Run("licensectl names a bad announcement", func(t *testing.T) {
		_, errOut, err := sys.Licensectl(t.Context(), "", "announcements", "create", "-all", "-dictionary", `{"en":"x"}`, "-view", `{}`, "-expire", "1h")
		if err == nil || !strings.Contains(errOut, "dictionary_json") {
			t.Fatalf("bad dictionary accepted or not named: %v %s", err, errOut)
		}
	})

	t.Run("no access token", func(t *testing.T) {
		call(t, sys, http.MethodPost, comms, "", "application/json", a.body(t)).fails(t, http.StatusUnauthorized, "invalid_token", "missing")
	})
	t.Run("token without workspace:client:write", func(t *testing.T) {
		call(t, sys, http.MethodPost, comms, a.licenseOnly, "application/json", a.body(t)).fails(t, http.StatusForbidden, "insufficient_scope", "workspace:client:write")
	})
	t.Run("another workspace's id in the body", func(t *testing.T) {
		d := a.data
		d.WorkspaceID = b.creds.WorkspaceID
		raw, _ := json.Marshal(d)
		call(t, sys, http.MethodPost, comms, a.full, "application/json", string(raw)).fails(t, http.StatusBadRequest, "invalid_request", "workspaceId")
	})
	t.Run("body not JSON", func(t *testing.T) {
		call(t, sys, http.MethodPost, comms, a.full, "application/json", "nope").fails(t, http.StatusBadRequest, "invalid_request", "JSON")
	})
}

// TestConformanceDowngrade is section 6's "Cancel Subscription": POST
// WS/client/downgrade.
func TestConformanceDowngrade(t *testing.T) {
	sys, _, a, b := twoWorkspaces(t, "pro")
	admin := adminClient(t, sys)
	first := call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", a.body(t)).ok(t, syncShape)
	if plan := planOf(t, first["license"].(string)); plan != "pro" {
		t.Fatalf("first license on %q, want pro", plan)
	}
	requireSubscriptions(t, admin, a.creds.WorkspaceID)

	t.Run("200 success, and the next sync returns the free plan's license", func(t *testing.T) {
		body := call(t, sys, http.MethodPost, a.wsPath("/client/downgrade"), a.full, "", "").ok(t, map[string]string{"success": "bool"})
		if body["success"] != true {
			t.Fatalf("downgrade %v", body)
		}
		x := call(t, sys, http.MethodPost, a.wsPath("/sync"), a.full, "application/json", a.body(t)).ok(t, syncShape)
		if plan := planOf(t, x["license"].(string)); plan != "starter" {
			t.Fatalf("license after the downgrade is on %q, want starter", plan)
		}
		acceptedLicense(t, x["license"].(string), a.creds.PublicKey, "alpha.conformance.test")
	})
	t.Run("409 no_paid_subscription when nothing is left to cancel", func(t *testing.T) {
		call(t, sys, http.MethodPost, a.wsPath("/client/downgrade"), a.full, "", "").fails(t, http.StatusConflict, "no_paid_subscription", "")
	})
	t.Run("a JSON body naming the workspace is accepted too", func(t *testing.T) {
		call(t, sys, http.MethodPost, b.wsPath("/client/downgrade"), b.full, "application/json", b.body(t)).ok(t, map[string]string{"success": "bool"})
	})
	commonErrors(t, sys, http.MethodPost, "/client/downgrade", "workspace:client:write", a, b, true)
}

// requireSubscriptions stops a test that needs the signer's subscription
// lifecycle when the running signer does not serve it.
func requireSubscriptions(t *testing.T, admin *client.Client, workspaceID string) {
	t.Helper()
	_, err := admin.Subscriptions.GetEntitlement(t.Context(), &signerv1.GetEntitlementRequest{WorkspaceId: workspaceID})
	if rpcerr.Code(err) == codes.Unimplemented {
		t.Fatalf("the signer does not serve SubscriptionService yet: %v", err)
	}
}

func planOf(t *testing.T, lic string) string {
	t.Helper()
	doc := decodeUnverifiedPayload(t, lic)
	meta, _ := doc["cloudMeta"].(map[string]any)
	plan, _ := meta["planId"].(string)
	return plan
}

func keysOf(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strSlice(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestIssuedLicensesAreAccepted decodes every license the authority issued
// in a run (free, paid, after a move, and after a cancellation when the
// signer supports it) exactly as a stock workspace does, and checks the
// document against PROTOCOL.md section 9.
func TestIssuedLicensesAreAccepted(t *testing.T) {
	sys := startSystem(t, false)
	ws := workspace.New(sys.GatewayURL)
	admin := adminClient(t, sys)
	customer := createCustomer(t, sys, "Licenses")
	var all []registered
	for _, plan := range []string{"", "pro", "enterprise"} {
		name := "ws-" + plan
		if plan == "" {
			name = "ws-free"
		}
		w := registerWorkspace(t, sys, ws, createToken(t, sys, customer, plan, 1), name, "https://"+name+".licenses.test:3000/chat/")
		all = append(all, w)
		call(t, sys, http.MethodPost, w.wsPath("/sync"), w.full, "application/json", w.body(t)).ok(t, syncShape)
		d := w.data
		d.Address = "http://Moved-" + name + ".licenses.test"
		raw, _ := json.Marshal(d)
		call(t, sys, http.MethodPost, w.wsPath("/sync"), w.full, "application/json", string(raw)).ok(t, syncShape)
	}
	// The PUBLIC_LICENSE_KEY_V2 form a workspace build may carry: base64 of
	// the SPKI PEM.
	v2, _, err := sys.Licensectl(t.Context(), "", "keys", "public", "-v2")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v2))
	if err != nil {
		t.Fatalf("PUBLIC_LICENSE_KEY_V2 is not base64: %v", err)
	}
	checked := 0
	for _, w := range all {
		if string(pemBytes) != w.creds.PublicKey {
			t.Fatalf("the V2 key and the registration's publicKey differ")
		}
		resp, err := admin.Signer.ListLicenses(t.Context(), &signerv1.ListLicensesRequest{WorkspaceId: w.creds.WorkspaceID})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range resp.GetLicenses() {
			t.Run(fmt.Sprintf("%s #%d %s", w.creds.ClientName, l.GetSequence(), l.GetPlanId()), func(t *testing.T) {
				acceptedLicense(t, l.GetToken(), string(pemBytes), l.GetAddress())
			})
			checked++
		}
	}
	if checked < 6 {
		t.Fatalf("checked %d licenses, want at least two per workspace", checked)
	}
}

// acceptedLicense decodes lic as a stock workspace does, from scratch: strip
// RCV3_, verify the RS256 JWT with the SPKI public key, parse the V3 document
// and check every member PROTOCOL.md section 9 requires. address (stripped),
// when set, must be the one serverUrls entry. It returns the document.
func acceptedLicense(t *testing.T, lic, publicKeyPEM, address string) map[string]any {
	t.Helper()
	tok, ok := strings.CutPrefix(lic, "RCV3_")
	if !ok {
		t.Fatalf("license does not start with RCV3_: %.20q", lic)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("license JWT has %d parts", len(parts))
	}
	block, _ := pem.Decode([]byte(publicKeyPEM))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("public key is not an SPKI PEM")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("public key is %T, want RSA", key)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("RS256 signature does not verify: %v", err)
	}
	var header map[string]any
	decodeSegment(t, "header", parts[0], &header)
	if header["alg"] != "RS256" || header["typ"] != "JWT" {
		t.Errorf("header %v, want alg RS256 and typ JWT", header)
	}
	if kid, _ := header["kid"].(string); kid == "" {
		t.Errorf("header has no kid: %v", header)
	}
	var doc map[string]any
	decodeSegment(t, "payload", parts[1], &doc)
	checkDocument(t, doc, address)
	return doc
}

func decodeUnverifiedPayload(t *testing.T, lic string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(lic, "RCV3_"), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	var doc map[string]any
	decodeSegment(t, "payload", parts[1], &doc)
	return doc
}

func decodeSegment(t *testing.T, what, seg string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("%s: not base64url: %v", what, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: not JSON: %v", what, err)
	}
}

var (
	behaviors   = []string{"invalidate_license", "start_fair_policy", "prevent_action", "allow_action", "prevent_installation", "disable_modules"}
	grantMethod = []string{"manual", "self-service", "sales", "support", "reseller"}
	modules     = []string{"auditing", "canned-responses", "ldap-enterprise", "livechat-enterprise", "voip-enterprise",
		"omnichannel-mobile-enterprise", "engagement-dashboard", "push-privacy", "scalability", "teams-mention", "saml-enterprise",
		"oauth-enterprise", "device-management", "federation", "videoconference-enterprise", "message-read-receipt",
		"outlook-calendar", "hide-watermark", "custom-roles", "accessibility-certification", "unlimited-presence",
		"contact-id-verification", "teams-voip", "outbound-messaging", "abac", "fips"}
	externalModule = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9.-]+$`)
	limitKinds     = []string{"activeUsers", "guestUsers", "roomsPerGuest", "privateApps", "marketplaceApps", "monthlyActiveContacts"}
)

func obj(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %s, want an object", what, jsonType(v))
	}
	return m
}

func arr(t *testing.T, what string, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is %s, want an array", what, jsonType(v))
	}
	return a
}

func oneOf(t *testing.T, what string, v any, allowed []string) string {
	t.Helper()
	s, _ := v.(string)
	if !slices.Contains(allowed, s) {
		t.Errorf("%s = %v, want one of %v", what, v, allowed)
	}
	return s
}

func checkModuleRefs(t *testing.T, what string, m map[string]any, behavior string) {
	t.Helper()
	mods, present := m["modules"]
	if behavior == "disable_modules" && (!present || len(arr(t, what+".modules", mods)) == 0) {
		t.Errorf("%s: disable_modules without modules", what)
	}
	if present {
		for i, x := range arr(t, what+".modules", mods) {
			oneOf(t, fmt.Sprintf("%s.modules[%d]", what, i), x, modules)
		}
	}
}

func checkDocument(t *testing.T, doc map[string]any, address string) {
	t.Helper()
	for _, claim := range []string{"exp", "nbf"} {
		if _, ok := doc[claim]; ok {
			t.Errorf("the payload carries %q, which a workspace's JWT library would enforce", claim)
		}
	}
	wantShape(t, "document", doc, map[string]string{
		"version": "string", "information": "object", "validation": "object", "grantedModules": "array", "limits": "object",
		"cloudMeta?": "object", "supportedVersions?": "object|string",
	})
	if doc["version"] != "3.0" {
		t.Errorf("version = %v, want 3.0", doc["version"])
	}

	info := obj(t, "information", doc["information"])
	wantShape(t, "information", info, map[string]string{
		"id": "string", "autoRenew": "bool", "visualExpiration?": "string", "notifyAdminsAt?": "string", "notifyUsersAt?": "string",
		"trial": "bool", "cancellable?": "bool", "offline": "bool", "createdAt": "string", "grantedBy": "object",
		"grantedTo?": "object", "legalText?": "string", "notes?": "string", "tags?": "array",
	})
	if info["id"] == "" {
		t.Error("information.id is empty")
	}
	wantISO(t, "information.createdAt", info["createdAt"])
	for _, f := range []string{"visualExpiration", "notifyAdminsAt", "notifyUsersAt"} {
		if v, ok := info[f]; ok {
			wantISO(t, "information."+f, v)
		}
	}
	by := obj(t, "grantedBy", info["grantedBy"])
	wantShape(t, "grantedBy", by, map[string]string{"method": "string", "seller?": "string"})
	oneOf(t, "grantedBy.method", by["method"], grantMethod)
	if to, ok := info["grantedTo"]; ok {
		wantShape(t, "grantedTo", obj(t, "grantedTo", to), map[string]string{"name?": "string", "company?": "string", "email?": "string"})
	}
	if tags, ok := info["tags"]; ok {
		for i, tag := range arr(t, "tags", tags) {
			wantShape(t, fmt.Sprintf("tags[%d]", i), obj(t, "tag", tag), map[string]string{"name": "string", "color": "string"})
		}
	}

	val := obj(t, "validation", doc["validation"])
	wantShape(t, "validation", val, map[string]string{
		"serverUrls": "array", "serverVersions?": "array", "serverUniqueId?": "string", "cloudWorkspaceId?": "string",
		"validPeriods": "array", "legalTextAgreement?": "object", "statisticsReport": "object",
	})
	urls := arr(t, "serverUrls", val["serverUrls"])
	for i, u := range urls {
		m := obj(t, "serverUrl", u)
		wantShape(t, fmt.Sprintf("serverUrls[%d]", i), m, map[string]string{"value": "string", "type": "string"})
		oneOf(t, fmt.Sprintf("serverUrls[%d].type", i), m["type"], []string{"url", "regex", "hash"})
		if m["type"] == "url" {
			v := m["value"].(string)
			if v != strings.ToLower(v) || strings.Contains(v, "://") || strings.HasSuffix(v, "/") {
				t.Errorf("serverUrls[%d].value %q carries a scheme, upper case or a trailing slash", i, v)
			}
		}
	}
	if address != "" && (len(urls) != 1 || obj(t, "serverUrl", urls[0])["value"] != address || obj(t, "serverUrl", urls[0])["type"] != "url") {
		t.Errorf("serverUrls = %v, want one url entry %q", urls, address)
	}
	if sv, ok := val["serverVersions"]; ok {
		for i, v := range arr(t, "serverVersions", sv) {
			wantShape(t, fmt.Sprintf("serverVersions[%d]", i), obj(t, "serverVersion", v), map[string]string{"value": "string"})
		}
	}
	for i, p := range arr(t, "validPeriods", val["validPeriods"]) {
		what := fmt.Sprintf("validPeriods[%d]", i)
		m := obj(t, what, p)
		wantShape(t, what, m, map[string]string{"validFrom?": "string", "validUntil?": "string", "invalidBehavior": "string", "modules?": "array"})
		_, from := m["validFrom"]
		_, until := m["validUntil"]
		if !from && !until {
			t.Errorf("%s has neither validFrom nor validUntil", what)
		}
		for _, f := range []string{"validFrom", "validUntil"} {
			if v, ok := m[f]; ok {
				wantISO(t, what+"."+f, v)
			}
		}
		checkModuleRefs(t, what, m, oneOf(t, what+".invalidBehavior", m["invalidBehavior"], behaviors))
	}
	if lta, ok := val["legalTextAgreement"]; ok {
		m := obj(t, "legalTextAgreement", lta)
		wantShape(t, "legalTextAgreement", m, map[string]string{"type": "string", "acceptedVia?": "string"})
		oneOf(t, "legalTextAgreement.type", m["type"], []string{"required", "not-required", "accepted"})
		if v, ok := m["acceptedVia"]; ok {
			oneOf(t, "legalTextAgreement.acceptedVia", v, []string{"cloud"})
		}
	}
	sr := obj(t, "statisticsReport", val["statisticsReport"])
	wantShape(t, "statisticsReport", sr, map[string]string{"required": "bool", "allowedStaleInDays?": "integer"})

	for i, g := range arr(t, "grantedModules", doc["grantedModules"]) {
		what := fmt.Sprintf("grantedModules[%d]", i)
		m := obj(t, what, g)
		wantShape(t, what, m, map[string]string{"module": "string", "external?": "bool"})
		if m["external"] == true {
			if !externalModule.MatchString(m["module"].(string)) {
				t.Errorf("%s: external module %q is not <vendor>.<name>", what, m["module"])
			}
		} else {
			oneOf(t, what+".module", m["module"], modules)
		}
	}

	limits := obj(t, "limits", doc["limits"])
	spec := map[string]string{}
	for _, k := range limitKinds {
		spec[k+"?"] = "array"
	}
	wantShape(t, "limits", limits, spec)
	for kind, ls := range limits {
		for i, l := range arr(t, kind, ls) {
			what := fmt.Sprintf("limits.%s[%d]", kind, i)
			m := obj(t, what, l)
			wantShape(t, what, m, map[string]string{"max": "integer", "behavior": "string", "modules?": "array"})
			b := oneOf(t, what+".behavior", m["behavior"], behaviors)
			if kind == "roomsPerGuest" && b != "prevent_action" {
				t.Errorf("%s: roomsPerGuest allows prevent_action only, got %s", what, b)
			}
			checkModuleRefs(t, what, m, b)
		}
	}
}
