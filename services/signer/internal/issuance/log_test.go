package issuance

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5"

	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// Every license, whichever path issued it (the first license and address
// changes through Ensure, subscription changes and offline licenses through
// the batched writes), is queued for the issuance log in its transaction,
// under its exact bytes.
func TestEveryLicenseIsQueuedForTheLog(t *testing.T) {
	t.Parallel()
	e := registered(t, "ws-logged")
	ctx := t.Context()
	if _, err := e.svc.Change(ctx, "ws-logged", "", key("trial"), domain.StartTrial{Plan: pro()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.OfflineLicense(ctx, "ws-logged", "", "https://air.example", key("offline")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Ensure(ctx, "ws-logged", "https://moved.example"); err != nil {
		t.Fatal(err)
	}
	ls, err := e.store.Licenses(ctx, "ws-logged")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `SELECT kind, workspace_id, sequence, artifact_sha256 FROM log_queue ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tlog.Leaf, error) {
		var l tlog.Leaf
		err := r.Scan(&l.Kind, &l.WorkspaceID, &l.Sequence, &l.ArtifactSHA256)
		return l, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 4 || len(queued) != len(ls) {
		t.Fatalf("%d licenses, %d queued leaves", len(ls), len(queued))
	}
	for i, q := range queued {
		l := ls[len(ls)-1-i] // newest first
		want := tlog.LicenseLeaf(l.WorkspaceID, l.Sequence, l.Token)
		if q.Kind != tlog.KindLicense || q.WorkspaceID != want.WorkspaceID || q.Sequence != want.Sequence || !bytes.Equal(q.ArtifactSHA256, want.ArtifactSHA256) {
			t.Errorf("queued leaf %d = %+v, want license %d", i, q, l.Sequence)
		}
	}
}
