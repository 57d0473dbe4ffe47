package consumer_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/consumer"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

type env struct {
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	store *store.Store
}

func start(t *testing.T) env {
	t.Helper()
	pool := harness.Database(t)
	js := harness.JetStream(t)
	st := store.New(pool)
	harness.Go(t, consumer.New(js, pool, st, harness.Logger(t)).Run)
	return env{pool: pool, js: js, store: st}
}

func issued(ws string, seq int64, address string) *eventsv1.LicenseIssued {
	return &eventsv1.LicenseIssued{WorkspaceId: ws, Sequence: seq, Address: address, Token: fmt.Sprintf("RCV3_token-%s-%d", ws, seq)}
}

func (e env) view(t *testing.T, ws string) domain.View {
	t.Helper()
	v, err := e.store.View(t.Context(), ws)
	if err != nil {
		t.Fatalf("view %s: %v", ws, err)
	}
	return v
}

func TestLicenseIssuedOnlyMovesTheViewForward(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-forward"

	harness.PublishLicenseIssued(t, e.js, "m1", issued(ws, 2, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "m1")
	first := e.view(t, ws)
	if first.LicenseSequence != 2 || first.License != "RCV3_token-ws-forward-2" || first.LicenseAddress != "chat.example.com" || first.Revision <= 0 {
		t.Fatalf("first view = %+v", first)
	}

	// A late, older license must not roll the workspace back.
	harness.PublishLicenseIssued(t, e.js, "m2", issued(ws, 1, "old.example.com"))
	harness.WaitConsumed(t, e.pool, "m2")
	if got := e.view(t, ws); got != first {
		t.Fatalf("older license changed the view:\n got %+v\nwant %+v", got, first)
	}

	harness.PublishLicenseIssued(t, e.js, "m3", issued(ws, 3, "https://New.Example.com/"))
	harness.WaitConsumed(t, e.pool, "m3")
	third := e.view(t, ws)
	if third.LicenseSequence != 3 || third.License != "RCV3_token-ws-forward-3" {
		t.Fatalf("newer license not applied: %+v", third)
	}
	if third.LicenseAddress != "new.example.com" {
		t.Errorf("address = %q, want it stripped to new.example.com", third.LicenseAddress)
	}
	if third.Revision <= first.Revision || !third.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("revision %d -> %d, updated_at %v -> %v: want both to grow", first.Revision, third.Revision, first.UpdatedAt, third.UpdatedAt)
	}
}

func TestSameLicenseUnderTwoMessageIDsHasOneEffect(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-twice"

	harness.PublishLicenseIssued(t, e.js, "a", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "a")
	once := e.view(t, ws)

	harness.PublishLicenseIssued(t, e.js, "b", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "b")
	if twice := e.view(t, ws); twice != once {
		t.Fatalf("second delivery changed the view:\n got %+v\nwant %+v", twice, once)
	}
}

func TestPoisonMessageDoesNotBlockTheNext(t *testing.T) {
	t.Parallel()
	e := start(t)

	harness.PublishRaw(t, e.js, "garbage", events.SubjectLicenseIssued, []byte{0xff, 0xff, 0xff}, "ws-poison", 1)
	harness.PublishLicenseIssued(t, e.js, "no-token", &eventsv1.LicenseIssued{WorkspaceId: "ws-poison", Sequence: 1})
	harness.PublishLicenseIssued(t, e.js, "good", issued("ws-poison", 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "good")
	if v := e.view(t, "ws-poison"); v.License != "RCV3_token-ws-poison-1" {
		t.Fatalf("view = %+v", v)
	}
}

func TestWithdrawalFollowsTheSequenceRule(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-suspended"

	harness.PublishLicenseIssued(t, e.js, "w1", issued(ws, 1, "chat.example.com"))
	harness.PublishLicenseWithdrawn(t, e.js, "w2", &eventsv1.LicenseWithdrawn{WorkspaceId: ws, Sequence: 2, Reason: "unpaid"})
	harness.WaitConsumed(t, e.pool, "w2")
	v := e.view(t, ws)
	if !v.RemoveLicense || v.LicenseSequence != 2 || v.License != "RCV3_token-ws-suspended-1" {
		t.Fatalf("withdrawn view = %+v, want removeLicense at sequence 2 keeping the license text", v)
	}
	// The license the withdrawal superseded, redelivered under another id,
	// changes nothing.
	harness.PublishLicenseIssued(t, e.js, "w1-again", issued(ws, 1, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "w1-again")
	if got := e.view(t, ws); !got.RemoveLicense || got.LicenseSequence != 2 {
		t.Fatalf("an older license undid the withdrawal: %+v", got)
	}
	// Reinstatement: the next license clears removeLicense.
	harness.PublishLicenseIssued(t, e.js, "w3", issued(ws, 3, "chat.example.com"))
	harness.WaitConsumed(t, e.pool, "w3")
	if got := e.view(t, ws); got.RemoveLicense || got.LicenseSequence != 3 || got.License != "RCV3_token-ws-suspended-3" {
		t.Fatalf("reinstated view = %+v", got)
	}
	// A late withdrawal older than the view's license changes nothing.
	harness.PublishLicenseWithdrawn(t, e.js, "w2-late", &eventsv1.LicenseWithdrawn{WorkspaceId: ws, Sequence: 2})
	harness.WaitConsumed(t, e.pool, "w2-late")
	if got := e.view(t, ws); got.RemoveLicense {
		t.Fatalf("a late withdrawal removed the reinstated license: %+v", got)
	}
	// A withdrawal of a workspace sync never saw creates a view that says so.
	harness.PublishLicenseWithdrawn(t, e.js, "w-new", &eventsv1.LicenseWithdrawn{WorkspaceId: "ws-unseen", Sequence: 4})
	harness.WaitConsumed(t, e.pool, "w-new")
	if got := e.view(t, "ws-unseen"); !got.RemoveLicense || got.LicenseSequence != 4 || got.License != "" {
		t.Fatalf("new withdrawn view = %+v", got)
	}
}

func TestLicenseLimitsAreRead(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := harness.SignedLicense(t, "ws-limits", 1, 40, 200)
	harness.PublishLicenseIssued(t, e.js, "l1", &eventsv1.LicenseIssued{WorkspaceId: "ws-limits", Sequence: 1, Token: tok})
	harness.WaitConsumed(t, e.pool, "l1")
	u, err := e.store.Usage(t.Context(), "ws-limits", 10)
	if err != nil {
		t.Fatal(err)
	}
	if u.Limits.ActiveUsers == nil || *u.Limits.ActiveUsers != 40 || u.Limits.MonthlyActiveContacts == nil || *u.Limits.MonthlyActiveContacts != 200 {
		t.Errorf("limits = %+v, want the lowest maxima 40 and 200", u.Limits)
	}
}
