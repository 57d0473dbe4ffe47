package server_test

import (
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

func TestSyncValidation(t *testing.T) {
	t.Parallel()
	e := start(t)
	tests := []struct {
		name   string
		edit   func(r *syncv1.UsageReport)
		fields []string
	}{
		{"no uniqueId", func(r *syncv1.UsageReport) { r.UniqueId = "" }, []string{"uniqueId"}},
		{"blank uniqueId", func(r *syncv1.UsageReport) { r.UniqueId = "  " }, []string{"uniqueId"}},
		{"no address", func(r *syncv1.UsageReport) { r.Address = "" }, []string{"address"}},
		{"address without host", func(r *syncv1.UsageReport) { r.Address = "https://" }, []string{"address"}},
		{"no version", func(r *syncv1.UsageReport) { r.Version = "" }, []string{"version"}},
		{"negative seats", func(r *syncv1.UsageReport) { r.Seats = -1 }, []string{"seats"}},
		{"negative MAC", func(r *syncv1.UsageReport) { r.MonthlyActiveContacts = -1 }, []string{"MAC"}},
		{"NUL in uniqueId", func(r *syncv1.UsageReport) { r.UniqueId = "a\x00b" }, []string{"uniqueId"}},
		{"everything wrong", func(r *syncv1.UsageReport) { *r = syncv1.UsageReport{Seats: -5, MonthlyActiveContacts: -5} },
			[]string{"uniqueId", "address", "version", "seats", "MAC"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := report("chat.example.com")
			tt.edit(r)
			_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-valid", Report: r})
			wantStatus(t, err, codes.InvalidArgument, "INVALID_REGISTRATION_DATA")
			var got []string
			for _, f := range rpcerr.Fields(err) {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
	t.Run("no workspace id", func(t *testing.T) {
		_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{Report: report("chat.example.com")})
		wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != "workspace_id" {
			t.Errorf("fields = %v, want workspace_id", f)
		}
	})
	if calls, _ := e.signer.counts(); calls != 0 {
		t.Errorf("signer called %d times for invalid reports", calls)
	}
	var reports int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM usage_reports`).Scan(&reports); err != nil || reports != 0 {
		t.Errorf("stored %d reports of invalid syncs (err %v)", reports, err)
	}
}

func TestSyncIssuesLicenseForNewWorkspaceAndNewAddress(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-new"

	first := e.sync(t, ws, report("https://Chat.Example.com/"))
	if calls, _ := e.signer.counts(); calls != 1 {
		t.Fatalf("first sync: signer calls = %d, want 1", calls)
	}
	if first.GetLicense() != "RCV3_ws-new.1" || first.GetLicenseSequence() != 1 || first.GetAddress() != "chat.example.com" ||
		first.GetWorkspaceId() != ws || first.GetRevision() <= 0 || first.GetRemoveLicense() {
		t.Fatalf("first view = %v", first)
	}
	if first.GetLastSyncedAt() == nil || first.GetUpdatedAt() == nil {
		t.Fatalf("first view lacks times: %v", first)
	}

	// The same site, written differently, needs no new license.
	second := e.sync(t, ws, report("chat.example.com"))
	if calls, _ := e.signer.counts(); calls != 1 {
		t.Fatalf("second sync from the same address called the signer (calls = %d)", calls)
	}
	if second.GetLicense() != first.GetLicense() || second.GetRevision() != first.GetRevision() {
		t.Errorf("second view = %v, want the first's license and revision", second)
	}
	if !second.GetLastSyncedAt().AsTime().After(first.GetLastSyncedAt().AsTime()) {
		t.Errorf("last_synced_at did not move: %v -> %v", first.GetLastSyncedAt().AsTime(), second.GetLastSyncedAt().AsTime())
	}

	moved := e.sync(t, ws, report("https://chat.example.org"))
	if calls, issued := e.signer.counts(); calls != 2 || issued != 2 {
		t.Fatalf("sync from a new address: signer calls = %d, issued = %d, want 2 and 2", calls, issued)
	}
	if moved.GetLicense() != "RCV3_ws-new.2" || moved.GetLicenseSequence() != 2 || moved.GetAddress() != "chat.example.org" {
		t.Errorf("moved view = %v", moved)
	}
	if moved.GetRevision() <= second.GetRevision() {
		t.Errorf("revision %d -> %d, want it to grow", second.GetRevision(), moved.GetRevision())
	}

	got, err := e.dial("support-key").GetSyncView(t.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: ws})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetView().GetRevision() != moved.GetRevision() || got.GetView().GetLicense() != moved.GetLicense() {
		t.Errorf("GetSyncView = %v, want %v", got.GetView(), moved)
	}
}

func TestConcurrentFirstSyncsAgree(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-race"
	var wg sync.WaitGroup
	views := make([]*syncv1.SyncView, 16)
	errs := make([]error, len(views))
	for i := range views {
		wg.Go(func() {
			resp, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: ws, Report: report("chat.example.com")})
			views[i], errs[i] = resp.GetView(), err
		})
	}
	wg.Wait()
	for i, v := range views {
		if errs[i] != nil {
			t.Fatalf("sync %d: %v", i, errs[i])
		}
		if v.GetLicense() != "RCV3_ws-race.1" || v.GetRevision() != views[0].GetRevision() {
			t.Errorf("sync %d: view = %v, want license 1 at revision %d", i, v, views[0].GetRevision())
		}
	}
	if _, issued := e.signer.counts(); issued != 1 {
		t.Errorf("signer issued %d licenses, want 1", issued)
	}
}

func TestSyncWorkspaceUnknownToSigner(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signer.setMissing("ws-missing")
	_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-missing", Report: report("chat.example.com")})
	wantStatus(t, err, codes.NotFound, "WORKSPACE_NOT_FOUND")
	if st, _ := status.FromError(err); st.Message() == "" {
		t.Error("NOT_FOUND carries no message")
	}
	_, err = e.client.GetSyncView(t.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: "ws-missing"})
	wantStatus(t, err, codes.NotFound, "WORKSPACE_NOT_FOUND")
}

func TestSyncWhileSignerIsDown(t *testing.T) {
	t.Parallel()
	e := start(t)
	before := e.sync(t, "ws-down", report("chat.example.com"))

	t.Run("failing signer", func(t *testing.T) {
		e.signer.setFailure(status.Error(codes.PermissionDenied, "service key refused"))
		// A new address needs the signer; the license held is served meanwhile.
		got := e.sync(t, "ws-down", report("chat.example.org"))
		if got.GetLicense() != before.GetLicense() || got.GetAddress() != "chat.example.com" {
			t.Errorf("view = %v, want the license held", got)
		}
		_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-fresh", Report: report("chat.example.com")})
		wantStatus(t, err, codes.Unavailable, "UNAVAILABLE")
	})

	t.Run("stopped signer", func(t *testing.T) {
		e.signer.srv.Stop()
		got := e.sync(t, "ws-down", report("chat.example.org"))
		if got.GetLicense() != before.GetLicense() || got.GetLicenseSequence() != 1 {
			t.Errorf("view = %v, want the license held", got)
		}
		_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-fresh", Report: report("chat.example.com")})
		wantStatus(t, err, codes.Unavailable, "UNAVAILABLE")
	})

	// Degraded syncs are still syncs: their reports are kept.
	var reports int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM usage_reports WHERE workspace_id = 'ws-down' AND address = 'chat.example.org'`).Scan(&reports); err != nil || reports != 2 {
		t.Errorf("reports from the new address = %d (err %v), want 2", reports, err)
	}
	if _, err := e.client.GetSyncView(t.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: "ws-fresh"}); rpcerr.Code(err) != codes.NotFound {
		t.Errorf("a failed first sync left a view behind: %v", err)
	}
}
