package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func (e env) changeEvents(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectSupportedVersionsChanged).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e env) check(t *testing.T, workspace, customer, version string) *signerv1.CheckVersionResponse {
	t.Helper()
	resp, err := e.versions.CheckVersion(t.Context(), &signerv1.CheckVersionRequest{WorkspaceId: workspace, CustomerId: customer, Version: version}, as(serviceKey))
	if err != nil {
		t.Fatalf("CheckVersion(%s, %s, %s): %v", workspace, customer, version, err)
	}
	return resp
}

// TestVersionPolicyEdges checks CheckVersion on the window's edges with the
// server's clock: the seeded 7.2.0 ships 2026-06-09T00:00Z and, with the
// default of six months, is supported through 2026-12-09T00:00:00Z.
func TestVersionPolicyEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	// The signer learns ws-1 (customer cus_1) and ws-2 (cus_2) from the
	// registry and issues their licenses.
	for _, ws := range []string{"ws-1", "ws-2"} {
		if _, err := e.client.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: ws}, as(serviceKey)); err != nil {
			t.Fatal(err)
		}
	}
	lics, err := e.client.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: "ws-2"}, as("admin-key"))
	if err != nil || len(lics.GetLicenses()) == 0 {
		t.Fatalf("ws-2's licenses: %v %v", lics, err)
	}
	ws2License := lics.GetLicenses()[0].GetId()

	// Never enforced by default: unsupported, not refused.
	e.clock.Set(utc("2026-12-10T00:00:00Z"))
	if r := e.check(t, "ws-1", "", "7.2.1"); r.GetSupported() || r.GetRefused() || !strings.Contains(r.GetMessage(), "2026-12-09") {
		t.Errorf("before any enforcement: %v", r)
	}
	before := e.changeEvents(t)
	if _, err := e.versions.SetVersionPolicy(ctx, &signerv1.SetVersionPolicyRequest{EnforceFrom: timestamppb.New(utc("2026-12-01T00:00:00Z"))}, as("admin-key")); err != nil {
		t.Fatal(err)
	}
	if n := e.changeEvents(t); n != before+1 {
		t.Errorf("%d change events after setting the policy, want %d", n, before+1)
	}

	for _, tc := range []struct {
		now       string
		ws        string
		supported bool
	}{
		{"2026-12-08T00:00:00Z", "ws-1", true},
		{"2026-12-09T00:00:00Z", "ws-1", true},
		{"2026-12-09T00:00:00.001Z", "ws-1", false},
		{"2026-12-10T00:00:00Z", "ws-1", false},
	} {
		e.clock.Set(utc(tc.now))
		if r := e.check(t, tc.ws, "", "7.2.1"); r.GetSupported() != tc.supported || r.GetRefused() == tc.supported {
			t.Errorf("7.2.1 at %s: %v, want supported %v", tc.now, r, tc.supported)
		}
	}

	// A customer's exception through 2027-01-15 (the end of that UTC day).
	add := &signerv1.AddVersionExceptionRequest{IdempotencyKey: "k-cus", CustomerId: "cus_1", Version: "7.2", Until: timestamppb.New(utc("2027-01-15T00:00:00Z")), Reason: "upgrade booked"}
	first, err := e.versions.AddVersionException(ctx, add, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.versions.AddVersionException(ctx, add, as("support-key"))
	if err != nil || again.GetException().GetId() != first.GetException().GetId() {
		t.Errorf("the same key and request: %v %v, want exception %s again", again, err, first.GetException().GetId())
	}
	other := &signerv1.AddVersionExceptionRequest{IdempotencyKey: "k-cus", CustomerId: "cus_1", Version: "7.1", Until: add.Until}
	_, err = e.versions.AddVersionException(ctx, other, as("support-key"))
	wantStatus(t, "the key with another request", err, codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
	if err == nil || !strings.Contains(err.Error(), "k-cus") {
		t.Errorf("the refusal does not name the key: %v", err)
	}
	for now, supported := range map[string]bool{"2027-01-15T23:59:59.999Z": true, "2027-01-16T00:00:00Z": false} {
		e.clock.Set(utc(now))
		if r := e.check(t, "ws-1", "", "7.2.1"); r.GetSupported() != supported {
			t.Errorf("cus_1's ws-1 at %s: %v, want supported %v", now, r, supported)
		}
		if r := e.check(t, "ws-2", "", "7.2.1"); r.GetSupported() {
			t.Errorf("cus_2's ws-2 covered by cus_1's exception at %s: %v", now, r)
		}
	}
	// Without a workspace (a registration waiting for confirmation) the
	// customer given decides.
	e.clock.Set(utc("2027-01-10T00:00:00Z"))
	if r := e.check(t, "", "cus_1", "7.2.0"); !r.GetSupported() || r.GetExceptionId() != first.GetException().GetId() {
		t.Errorf("cus_1 without a workspace: %v", r)
	}
	if r := e.check(t, "", "", "7.2.0"); !r.GetRefused() {
		t.Errorf("nobody: %v", r)
	}

	// A license's exception covers the workspace it was issued to.
	lic, err := e.versions.AddVersionException(ctx, &signerv1.AddVersionExceptionRequest{
		IdempotencyKey: "k-lic", LicenseId: ws2License, Version: "7.2.1", Until: timestamppb.New(utc("2027-01-20T00:00:00Z")),
	}, as("support-key"))
	if err != nil {
		t.Fatal(err)
	}
	if x := lic.GetException(); x.GetWorkspaceId() != "ws-2" || x.GetLine() != "7.2" {
		t.Errorf("license exception %v, want ws-2's line 7.2", x)
	}
	for now, supported := range map[string]bool{"2027-01-19T00:00:00Z": true, "2027-01-20T23:59:59.999Z": true, "2027-01-21T00:00:00Z": false} {
		e.clock.Set(utc(now))
		if r := e.check(t, "ws-2", "", "7.2.1"); r.GetSupported() != supported {
			t.Errorf("ws-2 at %s: %v, want supported %v", now, r, supported)
		}
	}

	// The policy every enforcer copies lists both exceptions; removing one
	// takes it out, records a change, and answers the same when repeated.
	e.clock.Set(utc("2027-01-10T00:00:00Z"))
	pol, err := e.versions.GetVersionPolicy(ctx, &signerv1.GetVersionPolicyRequest{}, as(serviceKey))
	if err != nil || len(pol.GetPolicy().GetExceptions()) != 2 || pol.GetPolicy().GetEnforceFrom() == nil {
		t.Fatalf("policy %v %v", pol, err)
	}
	before = e.changeEvents(t)
	for range 2 {
		rm, err := e.versions.RemoveVersionException(ctx, &signerv1.RemoveVersionExceptionRequest{Id: lic.GetException().GetId()}, as("support-key"))
		if err != nil || rm.GetException().GetRemovedAt() == nil {
			t.Fatalf("remove: %v %v", rm, err)
		}
	}
	if n := e.changeEvents(t); n != before+1 {
		t.Errorf("%d change events after removing twice, want %d", n, before+1)
	}
	if r := e.check(t, "ws-2", "", "7.2.1"); !r.GetRefused() {
		t.Errorf("ws-2 after its exception was removed: %v", r)
	}
	_, err = e.versions.RemoveVersionException(ctx, &signerv1.RemoveVersionExceptionRequest{Id: "vex_nope"}, as("support-key"))
	wantStatus(t, "removing an unknown exception", err, codes.NotFound, "VERSION_EXCEPTION_NOT_FOUND")
	list, err := e.versions.ListVersionExceptions(ctx, &signerv1.ListVersionExceptionsRequest{IncludeRemoved: true}, as("ops-key"))
	if err != nil || len(list.GetExceptions()) != 2 {
		t.Errorf("every exception: %v %v", list, err)
	}
}

func TestVersionPolicyBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(utc("2026-12-01T12:00:00Z"))
	until := timestamppb.New(utc("2027-01-01T00:00:00Z"))
	before := e.changeEvents(t)
	for _, tc := range []struct {
		req    *signerv1.AddVersionExceptionRequest
		fields []string
	}{
		{&signerv1.AddVersionExceptionRequest{CustomerId: "cus_1", Version: "7.2", Until: until}, []string{"idempotency_key"}},
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", Version: "7.2", Until: until}, []string{"customer_id"}},
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", CustomerId: "cus_1", LicenseId: "lic_1", Version: "7.2", Until: until}, []string{"license_id"}},
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", CustomerId: "acme", Version: "7.2", Until: until}, []string{"customer_id"}},
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", CustomerId: "cus_1", Version: "7", Until: until}, []string{"version"}},
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", CustomerId: "cus_1", Version: "7.2"}, []string{"until"}},
		// The day before the clock's day is past; the clock's own day is not.
		{&signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", CustomerId: "cus_1", Version: "7.2", Until: timestamppb.New(utc("2026-11-30T00:00:00Z"))}, []string{"until"}},
		{&signerv1.AddVersionExceptionRequest{Version: "x", Reason: strings.Repeat("r", 501)}, []string{"idempotency_key", "customer_id", "version", "until", "reason"}},
	} {
		_, err := e.versions.AddVersionException(ctx, tc.req, as("support-key"))
		got := map[string]bool{}
		for _, f := range rpcerr.Fields(err) {
			got[f.Field] = true
		}
		if rpcerr.Code(err) != codes.InvalidArgument || len(got) != len(tc.fields) {
			t.Errorf("AddVersionException(%v) = %v, want INVALID_ARGUMENT naming %v", tc.req, err, tc.fields)
		}
		for _, f := range tc.fields {
			if !got[f] {
				t.Errorf("AddVersionException(%v) does not name %s: %v", tc.req, f, err)
			}
		}
	}
	_, err := e.versions.AddVersionException(ctx, &signerv1.AddVersionExceptionRequest{IdempotencyKey: "k", LicenseId: "lic_unknown", Version: "7.2", Until: until}, as("support-key"))
	wantStatus(t, "an unknown license", err, codes.NotFound, "LICENSE_NOT_FOUND")
	if _, err := e.versions.AddVersionException(ctx, &signerv1.AddVersionExceptionRequest{IdempotencyKey: "today", CustomerId: "cus_1", Version: "7.2", Until: timestamppb.New(utc("2026-12-01T00:00:00Z"))}, as("support-key")); err != nil {
		t.Errorf("an exception through today: %v", err)
	}

	for _, tc := range []struct {
		req   *signerv1.SetVersionPolicyRequest
		field string
	}{
		{&signerv1.SetVersionPolicyRequest{DefaultSupportMonths: 121}, "default_support_months"},
		{&signerv1.SetVersionPolicyRequest{DefaultSupportMonths: -1}, "default_support_months"},
		{&signerv1.SetVersionPolicyRequest{EnforceFrom: timestamppb.New(utc("2026-12-01T00:00:00Z")), NeverEnforce: true}, "never_enforce"},
	} {
		_, err := e.versions.SetVersionPolicy(ctx, tc.req, as("admin-key"))
		if fs := rpcerr.Fields(err); rpcerr.Code(err) != codes.InvalidArgument || len(fs) != 1 || fs[0].Field != tc.field {
			t.Errorf("SetVersionPolicy(%v) = %v, want INVALID_ARGUMENT naming %s", tc.req, err, tc.field)
		}
	}
	if n := e.changeEvents(t); n != before+1 {
		t.Errorf("%d change events, want %d (only the one good exception)", n, before+1)
	}

	// The default window moves every release without one of its own, and a
	// policy set twice to the same values records one change.
	for range 2 {
		resp, err := e.versions.SetVersionPolicy(ctx, &signerv1.SetVersionPolicyRequest{DefaultSupportMonths: 12}, as("admin-key"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetPolicy().GetReleases() {
			if r.GetVersion() == "7.2.0" && (r.GetSupportMonths() != 12 || !r.GetExpiration().AsTime().Equal(utc("2027-06-09T00:00:00Z"))) {
				t.Errorf("7.2.0 under a 12-month default: %v", r)
			}
		}
	}
	if n := e.changeEvents(t); n != before+2 {
		t.Errorf("%d change events, want %d", n, before+2)
	}
	if _, err := e.versions.SetVersionPolicy(ctx, &signerv1.SetVersionPolicyRequest{DefaultSupportMonths: 6}, as("support-key")); rpcerr.Code(err) != codes.PermissionDenied {
		t.Errorf("support sets the policy: %v", err)
	}
}
