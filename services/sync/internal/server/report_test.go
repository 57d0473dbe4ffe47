package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
)

type storedReport struct {
	uniqueID, address, version, siteName string
	seats, mac                           int64
	disabled                             bool
	raw                                  *string
	receivedAt                           time.Time
}

func TestSyncKeepsReportHistoryAndAnnouncesIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	const ws = "ws-history"

	first := report("chat.example.com")
	e.sync(t, ws, first)
	second := report("chat.example.com")
	second.Version, second.Seats, second.MonthlyActiveContacts, second.ConnectionDisabled = "7.3.0", 12, 4, true
	second.RawJson = `{"uniqueId": "unique-1", truncated`
	view := e.sync(t, ws, second)

	rows, err := e.pool.Query(t.Context(), `SELECT unique_id, address, version, site_name, seats, monthly_active_contacts,
		connection_disabled, raw::text, received_at FROM usage_reports WHERE workspace_id = $1 ORDER BY received_at DESC, id DESC`, ws)
	if err != nil {
		t.Fatal(err)
	}
	var got []storedReport
	for rows.Next() {
		var r storedReport
		if err := rows.Scan(&r.uniqueID, &r.address, &r.version, &r.siteName, &r.seats, &r.mac, &r.disabled, &r.raw, &r.receivedAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stored %d reports, want 2", len(got))
	}
	latest, older := got[0], got[1]
	if latest.version != "7.3.0" || latest.seats != 12 || latest.mac != 4 || !latest.disabled || latest.raw != nil {
		t.Errorf("latest report = %+v, want version 7.3.0, 12 seats, 4 MAC, disconnected, raw NULL (not JSON)", latest)
	}
	if older.version != "7.2.1" || older.seats != 10 || older.mac != 3 || older.siteName != "Example Chat" || older.raw == nil {
		t.Fatalf("older report = %+v", older)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(*older.raw), &raw); err != nil || raw["MAC"] != float64(3) || raw["uniqueId"] != "unique-1" {
		t.Errorf("older raw = %s (%v), want the registration data as sent", *older.raw, err)
	}
	if !view.GetLastSyncedAt().AsTime().Equal(latest.receivedAt) {
		t.Errorf("view last_synced_at = %v, latest report received_at = %v", view.GetLastSyncedAt().AsTime(), latest.receivedAt)
	}

	if n := harness.PublishOutbox(t, e.pool, e.js); n != 2 {
		t.Fatalf("outbox held %d events, want 2", n)
	}
	cons, err := e.js.OrderedConsumer(t.Context(), events.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjectWorkspaceSynced},
	})
	if err != nil {
		t.Fatal(err)
	}
	var synced []*eventsv1.WorkspaceSynced
	harness.Eventually(t, "two workspace.synced events on the stream", func() (bool, error) {
		msg, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
		if err != nil {
			return false, err
		}
		if id := msg.Headers().Get(events.HeaderAggregateID); id != ws {
			t.Errorf("aggregate id header = %q, want %q", id, ws)
		}
		if msg.Headers().Get(jetstream.MsgIDHeader) == "" {
			t.Error("event has no Nats-Msg-Id")
		}
		var ev eventsv1.WorkspaceSynced
		if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
			return false, err
		}
		synced = append(synced, &ev)
		return len(synced) == 2, nil
	})
	want := []*eventsv1.WorkspaceSynced{
		{WorkspaceId: ws, UniqueId: "unique-1", Address: "chat.example.com", Version: "7.2.1", Seats: 10, MonthlyActiveContacts: 3},
		{WorkspaceId: ws, UniqueId: "unique-1", Address: "chat.example.com", Version: "7.3.0", Seats: 12, MonthlyActiveContacts: 4},
	}
	for i, ev := range synced {
		at := ev.GetSyncedAt().AsTime()
		ev.SyncedAt = nil
		if !proto.Equal(ev, want[i]) {
			t.Errorf("event %d = %v, want %v", i, ev, want[i])
		}
		if !at.Equal(got[len(got)-1-i].receivedAt) {
			t.Errorf("event %d synced_at = %v, want the report's received_at %v", i, at, got[len(got)-1-i].receivedAt)
		}
	}

	// The same report again is stored but not announced: the registry hears
	// of a workspace when what it knows changes, or hourly.
	again := report("chat.example.com")
	again.Version = "7.3.0"
	e.sync(t, ws, again)
	var pending int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("an unchanged report wrote %d workspace.synced events, want 0", pending)
	}
}
