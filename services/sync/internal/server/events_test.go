package server_test

import (
	"testing"

	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
)

// A license the signer issues on its own (a plan change) reaches the view
// through the event, and the next sync serves it without asking the signer.
func TestSyncServesLicenseFromEvent(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-event"
	first := e.sync(t, ws, report("chat.example.com"))

	harness.PublishLicenseIssued(t, e.js, "upgrade", &eventsv1.LicenseIssued{
		WorkspaceId: ws, Sequence: 2, Address: "chat.example.com", Token: "RCV3_upgraded",
	})
	harness.WaitConsumed(t, e.pool, "upgrade")
	// The first license's event, arriving late, must not undo the upgrade.
	harness.PublishLicenseIssued(t, e.js, "late", &eventsv1.LicenseIssued{
		WorkspaceId: ws, Sequence: 1, Address: "chat.example.com", Token: first.GetLicense(),
	})
	harness.WaitConsumed(t, e.pool, "late")

	got, err := e.client.GetSyncView(t.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: ws})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.GetView(); v.GetLicense() != "RCV3_upgraded" || v.GetLicenseSequence() != 2 || v.GetRevision() <= first.GetRevision() {
		t.Fatalf("view after the upgrade = %v (first revision %d)", v, first.GetRevision())
	}
	synced := e.sync(t, ws, report("chat.example.com"))
	if synced.GetLicense() != "RCV3_upgraded" {
		t.Errorf("sync served %q, want the upgraded license", synced.GetLicense())
	}
	if calls, _ := e.signer.counts(); calls != 1 {
		t.Errorf("signer calls = %d, want only the first sync's", calls)
	}
}
