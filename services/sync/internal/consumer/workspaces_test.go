package consumer_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/consumer"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
)

func deregistered(t *testing.T, e env, msgID, ws string, at time.Time) {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.WorkspaceDeregistered{WorkspaceId: ws, DeregisteredAt: timestamppb.New(at)})
	if err != nil {
		t.Fatal(err)
	}
	harness.PublishRaw(t, e.js, msgID, events.SubjectWorkspaceDeregistered, data, ws, 0)
	harness.Eventually(t, "deregistration "+msgID+" consumed", func() (bool, error) {
		var done bool
		err := e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM inbox WHERE msg_id = $1)`,
			consumer.WorkspacesDurable+":"+msgID).Scan(&done)
		return done, err
	})
}

// Deregistration sets removeLicense for good: a repeat changes nothing, and
// no license applied afterwards (even a newer one) clears it.
func TestDeregisteredRemovesLicenseForGood(t *testing.T) {
	t.Parallel()
	e := start(t)
	harness.Go(t, consumer.NewWorkspaces(e.js, e.pool, e.store, harness.Logger(t)).Run)
	const ws = "ws-dereg"

	harness.PublishLicenseIssued(t, e.js, "l1", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "l1")
	before := e.view(t, ws)

	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	deregistered(t, e, "d1", ws, at)
	after := e.view(t, ws)
	if !after.RemoveLicense || after.Revision <= before.Revision || after.License != before.License {
		t.Fatalf("after deregistration: %+v (before %+v)", after, before)
	}

	// The same event under another id: no change, not even the revision.
	deregistered(t, e, "d2", ws, time.Now())
	if again := e.view(t, ws); again.Revision != after.Revision || !again.RemoveLicense {
		t.Fatalf("repeat moved the view: %+v", again)
	}

	// A later license moves the view but cannot bring the license back.
	harness.PublishLicenseIssued(t, e.js, "l2", issued(ws, 2, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "l2")
	if v := e.view(t, ws); v.LicenseSequence != 2 || !v.RemoveLicense {
		t.Fatalf("after a later license: %+v", v)
	}
}

// Deregistration consumed before the workspace's first license: the view is
// created removed, and the license that arrives later keeps it removed.
func TestDeregisteredBeforeAnyLicense(t *testing.T) {
	t.Parallel()
	e := start(t)
	harness.Go(t, consumer.NewWorkspaces(e.js, e.pool, e.store, harness.Logger(t)).Run)
	const ws = "ws-dereg-early"
	deregistered(t, e, "d1", ws, time.Now())
	if v := e.view(t, ws); !v.RemoveLicense || v.License != "" {
		t.Fatalf("view = %+v", v)
	}
	harness.PublishLicenseIssued(t, e.js, "l1", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "l1")
	if v := e.view(t, ws); v.LicenseSequence != 1 || !v.RemoveLicense {
		t.Fatalf("view = %+v", v)
	}
}

// Every change of license moves updated_at forward, by at least a whole
// millisecond (what a legacy workspace compares).
func TestLicenseChangeMovesUpdatedAt(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-updated"
	harness.PublishLicenseIssued(t, e.js, "l1", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "l1")
	first := e.view(t, ws)
	// Pretend the clock had run ahead when the first license was applied.
	if _, err := e.pool.Exec(t.Context(), `UPDATE views SET updated_at = now() + interval '1 hour' WHERE workspace_id = $1`, ws); err != nil {
		t.Fatal(err)
	}
	ahead := e.view(t, ws)
	harness.PublishLicenseIssued(t, e.js, "l2", issued(ws, 2, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "l2")
	second := e.view(t, ws)
	if second.LicenseSequence != 2 || second.UpdatedAt.Truncate(time.Millisecond).Compare(ahead.UpdatedAt.Truncate(time.Millisecond)) <= 0 {
		t.Fatalf("updated_at %v after %v (first %v)", second.UpdatedAt, ahead.UpdatedAt, first.UpdatedAt)
	}
}
