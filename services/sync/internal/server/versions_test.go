package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/versionpolicy"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// TestSyncRefusesAnUnsupportedVersion: once the policy is enforced, a sync
// reporting a version past its window is FAILED_PRECONDITION
// (UNSUPPORTED_VERSION) with the admin's message, and nothing is written:
// no view, no report.
func TestSyncRefusesAnUnsupportedVersion(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.versions.Set(versionpolicy.Policy{
		EnforceFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Releases: []versionpolicy.Release{
			{Version: "7.2.0", ReleasedAt: time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC)},
			{Version: "7.3.0", ReleasedAt: time.Date(2026, 9, 8, 0, 0, 0, 0, time.UTC)},
		},
	})
	r := report("chat.example.com") // 7.2.1: supported through 2026-12-09, the clock is 2026-12-10
	_, err := e.client.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-old", Report: r})
	wantStatus(t, err, codes.FailedPrecondition, "UNSUPPORTED_VERSION")
	if !strings.Contains(err.Error(), "7.2.1") || !strings.Contains(err.Error(), "2026-12-09") {
		t.Errorf("message %q does not name the version and its end", err)
	}
	var views, reports int
	if err := e.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM views), (SELECT count(*) FROM usage_reports)`).Scan(&views, &reports); err != nil {
		t.Fatal(err)
	}
	if views != 0 || reports != 0 {
		t.Errorf("a refused sync wrote %d views and %d reports", views, reports)
	}
	r.Version = "7.3.2"
	if v := e.sync(t, "ws-old", r); v.GetLicense() == "" {
		t.Errorf("a supported version's sync: %v", v)
	}
}
