package server_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
)

// licensed gives workspace ws a view holding a real license with the given
// limits, as the signer's license.issued would.
func (e *env) licensed(t *testing.T, ws string, seq int64, activeUsers, mac int) {
	t.Helper()
	id := fmt.Sprintf("%s-%d", ws, seq)
	harness.PublishLicenseIssued(t, e.js, id, &eventsv1.LicenseIssued{WorkspaceId: ws, Sequence: seq, Address: "chat.example.com",
		Token: harness.SignedLicense(t, ws, seq, activeUsers, mac)})
	harness.WaitConsumed(t, e.pool, id)
}

func usage(seats, mac int64) *syncv1.UsageReport {
	r := report("chat.example.com")
	r.Seats, r.MonthlyActiveContacts = seats, mac
	return r
}

func TestUsageAndOverLimit(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	admin := e.dial("operator-key")

	e.licensed(t, "ws-a-over-seats", 1, 50, 100)
	e.licensed(t, "ws-b-within", 1, 50, 100)
	e.licensed(t, "ws-c-over-mac", 1, 50, 100)
	e.licensed(t, "ws-d-unlimited", 1, -1, -1)
	e.licensed(t, "ws-e-back-within", 1, 50, 100)
	for _, s := range []struct {
		ws        string
		seats, mc int64
	}{
		{"ws-a-over-seats", 30, 5}, {"ws-a-over-seats", 51, 5},
		{"ws-b-within", 50, 100},
		{"ws-c-over-mac", 10, 101},
		{"ws-d-unlimited", 100000, 100000},
		{"ws-e-back-within", 70, 1}, {"ws-e-back-within", 40, 1},
	} {
		e.sync(t, s.ws, usage(s.seats, s.mc))
	}

	u, err := admin.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: "ws-a-over-seats"})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetLatest().GetSeats() != 51 || len(u.GetHistory()) != 2 || u.GetHistory()[1].GetSeats() != 30 ||
		u.GetLimits().GetActiveUsers() != 50 || u.GetLimits().GetMonthlyActiveContacts() != 100 || !slices.Equal(u.GetOver(), []string{"activeUsers"}) {
		t.Errorf("usage = %v", u)
	}
	one, err := admin.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: "ws-a-over-seats", HistoryLimit: 1})
	if err != nil || len(one.GetHistory()) != 1 {
		t.Errorf("history_limit 1: %d reports, %v", len(one.GetHistory()), err)
	}

	list, err := admin.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range list.GetWorkspaces() {
		got = append(got, fmt.Sprintf("%s:%v", w.GetWorkspaceId(), w.GetOver()))
	}
	if want := []string{"ws-a-over-seats:[activeUsers]", "ws-c-over-mac:[monthlyActiveContacts]"}; !slices.Equal(got, want) || list.GetNextPageToken() != "" {
		t.Errorf("over limit = %v (next %q), want %v", got, list.GetNextPageToken(), want)
	}
	// Page by page.
	first, err := admin.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{PageSize: 1})
	if err != nil || len(first.GetWorkspaces()) != 1 || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	second, err := admin.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
	if err != nil || len(second.GetWorkspaces()) != 1 || second.GetWorkspaces()[0].GetWorkspaceId() != "ws-c-over-mac" {
		t.Fatalf("second page: %v, %v", second, err)
	}

	// A higher seat count in a new license takes the workspace off the list.
	e.licensed(t, "ws-a-over-seats", 2, 100, 100)
	list, _ = admin.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{})
	if len(list.GetWorkspaces()) != 1 || list.GetWorkspaces()[0].GetWorkspaceId() != "ws-c-over-mac" {
		t.Errorf("after the seat increase: %v", list.GetWorkspaces())
	}

	_, err = admin.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: "ws-never"})
	wantStatus(t, err, codes.NotFound, "WORKSPACE_NOT_FOUND")
	_, err = admin.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: "ws-b-within", HistoryLimit: 100000})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	_, err = admin.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{PageToken: "%%%"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
}

func TestSuspendedWorkspaceIsToldToRemoveItsLicense(t *testing.T) {
	t.Parallel()
	e := start(t)
	first := e.sync(t, "ws-susp", report("chat.example.com"))
	if first.GetRemoveLicense() || first.GetLicenseSequence() != 1 {
		t.Fatalf("first sync = %v", first)
	}
	harness.PublishLicenseWithdrawn(t, e.js, "wd", &eventsv1.LicenseWithdrawn{WorkspaceId: "ws-susp", Sequence: 2})
	harness.WaitConsumed(t, e.pool, "wd")
	calls, _ := e.signer.counts()
	// Even from another address, nothing is issued while it is suspended.
	for _, addr := range []string{"chat.example.com", "elsewhere.example.com"} {
		v := e.sync(t, "ws-susp", report(addr))
		if !v.GetRemoveLicense() || v.GetLicenseSequence() != 2 || v.GetLicense() != first.GetLicense() {
			t.Errorf("sync from %s while suspended = %v", addr, v)
		}
	}
	if after, _ := e.signer.counts(); after != calls {
		t.Errorf("the signer was asked %d times while the workspace was suspended", after-calls)
	}
	harness.PublishLicenseIssued(t, e.js, "re", &eventsv1.LicenseIssued{WorkspaceId: "ws-susp", Sequence: 3, Address: "chat.example.com", Token: "RCV3_reinstated"})
	harness.WaitConsumed(t, e.pool, "re")
	if v := e.sync(t, "ws-susp", report("chat.example.com")); v.GetRemoveLicense() || v.GetLicense() != "RCV3_reinstated" {
		t.Errorf("sync after reinstatement = %v", v)
	}
}
