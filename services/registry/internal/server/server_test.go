package server_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
)

var workspaceID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRegisterWithToken(t *testing.T) {
	t.Parallel()
	e := start(t)
	cus := e.customer(t, "Acme")
	e.tokens.set(cus, "plan_pro", nil)

	resp, err := e.svc.RegisterWithToken(t.Context(), &registryv1.RegisterWithTokenRequest{
		RegistrationToken: "rt_secret", Email: " admin@example.com ", ClientName: "  Example Chat ",
		RedirectUris: []string{"https://chat.example.com/admin/cloud/oauth-callback"},
	})
	if err != nil {
		t.Fatalf("RegisterWithToken: %v", err)
	}
	ws := resp.GetWorkspace()
	if !workspaceID.MatchString(ws.GetId()) || ws.GetCustomerId() != cus || ws.GetInitialPlanId() != "plan_pro" ||
		ws.GetState() != registryv1.WorkspaceState_WORKSPACE_STATE_REGISTERED || ws.GetClientName() != "Example Chat" ||
		ws.GetContactEmail() != "admin@example.com" || ws.GetRegisteredAt() == nil {
		t.Fatalf("workspace = %v", ws)
	}
	if resp.GetClientId() != "client-"+ws.GetId() || resp.GetClientSecret() != "cs_secret" {
		t.Fatalf("credentials = %q %q, want the token service's", resp.GetClientId(), resp.GetClientSecret())
	}

	redeemed, released := e.tokens.calls()
	if len(redeemed) != 1 || len(released) != 0 {
		t.Fatalf("token service: %d redemptions, %d releases; want 1, 0", len(redeemed), len(released))
	}
	r := redeemed[0]
	if r.GetSecret() != "rt_secret" || r.GetWorkspaceId() != ws.GetId() || r.GetClientName() != "Example Chat" ||
		!slices.Equal(r.GetRedirectUris(), []string{"https://chat.example.com/admin/cloud/oauth-callback"}) {
		t.Fatalf("redemption request = %v", r)
	}

	got, err := e.svc.GetWorkspace(t.Context(), &registryv1.GetWorkspaceRequest{Id: ws.GetId()})
	if err != nil || !proto.Equal(got.GetWorkspace(), ws) {
		t.Fatalf("GetWorkspace = %v, %v; want %v", got.GetWorkspace(), err, ws)
	}
	if n := e.count(t, `SELECT event_seq FROM workspaces WHERE id = $1`, ws.GetId()); n != 1 {
		t.Fatalf("event_seq = %d, want 1", n)
	}

	// workspace.registered, sequence 1 of the workspace aggregate.
	var subject string
	var payload, headers []byte
	if err := e.pool.QueryRow(t.Context(), `SELECT subject, payload, headers FROM outbox`).Scan(&subject, &payload, &headers); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	var ev eventsv1.WorkspaceRegistered
	if err := proto.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(headers, &h); err != nil {
		t.Fatal(err)
	}
	if subject != events.SubjectWorkspaceRegistered || h[events.HeaderAggregateID] != ws.GetId() || h[events.HeaderAggregateSeq] != "1" {
		t.Fatalf("outbox row subject %q headers %v", subject, h)
	}
	if ev.GetWorkspaceId() != ws.GetId() || ev.GetCustomerId() != cus || ev.GetPlanId() != "plan_pro" || ev.GetClientName() != "Example Chat" ||
		!ev.GetRegisteredAt().AsTime().Equal(ws.GetRegisteredAt().AsTime()) {
		t.Fatalf("event = %v", &ev)
	}
}

// The token service's refusal reaches the caller exactly as the token
// service said it: the gateway maps its reason to the protocol's answer.
func TestRegisterWithTokenPassesTokenErrorsThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   codes.Code
		reason string
	}{
		{"unknown", codes.Unauthenticated, "REGISTRATION_TOKEN_UNKNOWN"},
		{"expired", codes.Unauthenticated, "REGISTRATION_TOKEN_EXPIRED"},
		{"used up", codes.Unauthenticated, "REGISTRATION_TOKEN_USED_UP"},
		{"revoked", codes.Unauthenticated, "REGISTRATION_TOKEN_REVOKED"},
		{"token service down", codes.Unavailable, "UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			cus := e.customer(t, "Acme")
			sent := rpcerr.New(tt.code, "tokens.licensing", tt.reason, "registration token "+tt.name, map[string]string{"k": "v"})
			e.tokens.set(cus, "", sent)

			_, err := e.svc.RegisterWithToken(t.Context(), &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x"})
			wantStatus(t, err, tt.code, tt.reason)
			got, want := status.Convert(err), status.Convert(sent)
			if got.Message() != want.Message() {
				t.Fatalf("message %q, want %q", got.Message(), want.Message())
			}
			if info := errorInfo(got); info.GetDomain() != "tokens.licensing" || info.GetMetadata()["k"] != "v" {
				t.Fatalf("ErrorInfo = %v, want the token service's", info)
			}
			if n := e.count(t, `SELECT (SELECT count(*) FROM workspaces) + (SELECT count(*) FROM outbox)`); n != 0 {
				t.Fatalf("%d rows written for a refused registration", n)
			}
			if _, released := e.tokens.calls(); len(released) != 0 {
				t.Fatalf("released %v after a refused redemption", released)
			}
		})
	}
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func TestRegisterWithTokenValidation(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.tokens.set(e.customer(t, "Acme"), "", nil)
	tests := []struct {
		name  string
		req   *registryv1.RegisterWithTokenRequest
		field string
	}{
		{"bad email", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", Email: "not-an-email"}, "email"},
		{"email without domain", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", Email: "admin@"}, "email"},
		{"relative redirect URI", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", RedirectUris: []string{"/admin/cloud"}}, "redirect_uris"},
		{"redirect URI without host", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", RedirectUris: []string{"https://"}}, "redirect_uris"},
		{"redirect URI not a URL", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", RedirectUris: []string{"https://ok.example.com/cb", "%zz"}}, "redirect_uris"},
		{"client name too long", &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x", ClientName: strings.Repeat("n", 257)}, "client_name"},
		{"no token", &registryv1.RegisterWithTokenRequest{Email: "admin@example.com"}, "registration_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.svc.RegisterWithToken(t.Context(), tt.req)
			wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
			var fields []string
			for _, f := range rpcerr.Fields(err) {
				fields = append(fields, f.Field)
			}
			if !slices.Contains(fields, tt.field) || !strings.Contains(status.Convert(err).Message(), tt.field) {
				t.Fatalf("error %v names fields %q, want %q", err, fields, tt.field)
			}
		})
	}
	t.Cleanup(func() {
		if redeemed, _ := e.tokens.calls(); len(redeemed) != 0 {
			t.Errorf("invalid registrations reached the token service %d times", len(redeemed))
		}
	})
}

// When the workspace cannot be stored after the token was redeemed, the
// redemption is released so the token use is not lost.
func TestRegisterWithTokenReleasesWhenWorkspaceCannotBeStored(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.tokens.set("cus_missing", "", nil) // the token names a customer the registry does not have

	_, err := e.svc.RegisterWithToken(t.Context(), &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x"})
	wantStatus(t, err, codes.NotFound, "CUSTOMER_NOT_FOUND")

	redeemed, released := e.tokens.calls()
	if len(redeemed) != 1 {
		t.Fatalf("%d redemptions, want 1", len(redeemed))
	}
	if !slices.Equal(released, []string{redeemed[0].GetWorkspaceId()}) {
		t.Fatalf("released %q, want the redeemed workspace %q", released, redeemed[0].GetWorkspaceId())
	}
	if n := e.count(t, `SELECT (SELECT count(*) FROM workspaces) + (SELECT count(*) FROM outbox)`); n != 0 {
		t.Fatalf("%d rows left behind", n)
	}
}

func TestCustomersAndWorkspaces(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	acme, globex := e.customer(t, "Acme"), e.customer(t, "Globex")
	register := func(cus string) string {
		t.Helper()
		e.tokens.set(cus, "", nil)
		resp, err := e.svc.RegisterWithToken(ctx, &registryv1.RegisterWithTokenRequest{RegistrationToken: "rt_x"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetWorkspace().GetId()
	}
	a1, a2, g1 := register(acme), register(acme), register(globex)

	got, err := e.admin.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: acme})
	if err != nil || got.GetCustomer().GetName() != "Acme" {
		t.Fatalf("GetCustomer = %v, %v", got, err)
	}
	_, err = e.admin.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: "cus_missing"})
	wantStatus(t, err, codes.NotFound, "CUSTOMER_NOT_FOUND")
	_, err = e.admin.GetWorkspace(ctx, &registryv1.GetWorkspaceRequest{Id: "ws-missing"})
	wantStatus(t, err, codes.NotFound, "WORKSPACE_NOT_FOUND")

	ids := func(req *registryv1.ListWorkspacesRequest) []string {
		t.Helper()
		resp, err := e.admin.ListWorkspaces(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range resp.GetWorkspaces() {
			out = append(out, w.GetId())
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	if got := ids(&registryv1.ListWorkspacesRequest{CustomerId: acme}); !slices.Equal(got, sorted(a1, a2)) {
		t.Fatalf("Acme's workspaces = %q, want %q", got, sorted(a1, a2))
	}
	if got := ids(&registryv1.ListWorkspacesRequest{}); !slices.Equal(got, sorted(a1, a2, g1)) {
		t.Fatalf("all workspaces = %q", got)
	}
	if got := ids(&registryv1.ListWorkspacesRequest{PageSize: 1}); len(got) != 1 {
		t.Fatalf("page of 1 = %q", got)
	}

	for _, size := range []int32{-1, 501} {
		_, err := e.admin.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{PageSize: size})
		wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	}
	for _, name := range []string{"", "   ", strings.Repeat("n", 201)} {
		_, err := e.admin.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: name})
		wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != "name" {
			t.Fatalf("CreateCustomer(%q) fields = %v, want name", name, f)
		}
	}
}
