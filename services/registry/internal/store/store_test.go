package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

const schema = "registry"

func newStore(t testing.TB) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 10)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		pgdb.Source{Name: schema, FS: store.Migrations()},
	); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return store.New(pool), pool
}

func TestCreateRegisteredWorkspace(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	c, err := st.CreateCustomer(ctx, "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.CreateRegisteredWorkspace(ctx, domain.Workspace{ID: "0123456789abcdef01234567", CustomerID: c.ID, ClientName: "Chat", ContactEmail: "a@example.com", InitialPlanID: "plan_pro"})
	if err != nil {
		t.Fatal(err)
	}
	if w.State != domain.StateRegistered || w.CustomerID != c.ID || w.InitialPlanID != "plan_pro" || w.RegisteredAt.IsZero() || w.LastSyncedAt != nil {
		t.Fatalf("workspace = %+v", w)
	}
	got, err := st.Workspace(ctx, w.ID)
	if err != nil || got.ID != w.ID || got.ClientName != "Chat" || got.ContactEmail != "a@example.com" {
		t.Fatalf("Workspace = %+v, %v", got, err)
	}

	var subject string
	var payload, headers []byte
	if err := pool.QueryRow(ctx, `SELECT subject, payload, headers FROM outbox`).Scan(&subject, &payload, &headers); err != nil {
		t.Fatal(err)
	}
	var e eventsv1.WorkspaceRegistered
	if err := proto.Unmarshal(payload, &e); err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(headers, &h); err != nil {
		t.Fatal(err)
	}
	if subject != events.SubjectWorkspaceRegistered || e.GetWorkspaceId() != w.ID || e.GetCustomerId() != c.ID || e.GetPlanId() != "plan_pro" ||
		h[events.HeaderAggregateID] != w.ID || h[events.HeaderAggregateSeq] != "1" {
		t.Fatalf("outbox: subject %q event %v headers %v", subject, &e, h)
	}
}

func TestCreateRegisteredWorkspaceUnknownCustomer(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	_, err := st.CreateRegisteredWorkspace(t.Context(), domain.Workspace{ID: "ws-1", CustomerID: "cus_missing"})
	if !errors.Is(err, domain.ErrCustomerNotFound) {
		t.Fatalf("err = %v, want %v", err, domain.ErrCustomerNotFound)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM workspaces) + (SELECT count(*) FROM outbox)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows left behind (%v)", n, err)
	}
}

func TestLookupsNotFound(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	if _, err := st.Customer(t.Context(), "cus_missing"); !errors.Is(err, domain.ErrCustomerNotFound) {
		t.Errorf("Customer = %v", err)
	}
	if _, err := st.Workspace(t.Context(), "ws-missing"); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("Workspace = %v", err)
	}
}

// RecordSync keeps the newest report: an older or equally old one (a
// redelivery, or events arriving out of order) changes nothing.
func TestRecordSyncIgnoresOlderReports(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	c, err := st.CreateCustomer(ctx, "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRegisteredWorkspace(ctx, domain.Workspace{ID: "ws-1", CustomerID: c.ID}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	synced := func(at time.Time, version string) *eventsv1.WorkspaceSynced {
		return &eventsv1.WorkspaceSynced{WorkspaceId: "ws-1", UniqueId: "u-" + version, Address: "chat-" + version + ".example.com", Version: version, SyncedAt: timestamppb.New(at)}
	}
	record := func(e *eventsv1.WorkspaceSynced) {
		t.Helper()
		if err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error { return st.RecordSync(ctx, tx, e) }); err != nil {
			t.Fatalf("RecordSync: %v", err)
		}
	}

	steps := []struct {
		name        string
		event       *eventsv1.WorkspaceSynced
		wantVersion string
		wantAt      time.Time
	}{
		{"first report", synced(base, "7.1.0"), "7.1.0", base},
		{"newer report", synced(base.Add(time.Hour), "7.2.0"), "7.2.0", base.Add(time.Hour)},
		{"older report ignored", synced(base.Add(30*time.Minute), "7.0.0"), "7.2.0", base.Add(time.Hour)},
		{"same time ignored", synced(base.Add(time.Hour), "6.0.0"), "7.2.0", base.Add(time.Hour)},
		{"newer by a microsecond", synced(base.Add(time.Hour+time.Microsecond), "7.2.1"), "7.2.1", base.Add(time.Hour + time.Microsecond)},
	}
	for _, s := range steps {
		record(s.event)
		w, err := st.Workspace(ctx, "ws-1")
		if err != nil {
			t.Fatal(err)
		}
		if w.Version != s.wantVersion || w.Address != "chat-"+s.wantVersion+".example.com" || w.UniqueID != "u-"+s.wantVersion ||
			w.LastSyncedAt == nil || !w.LastSyncedAt.Equal(s.wantAt) {
			t.Fatalf("%s: workspace version %q address %q unique %q synced %v; want %s at %v", s.name, w.Version, w.Address, w.UniqueID, w.LastSyncedAt, s.wantVersion, s.wantAt)
		}
	}

	// A report of a workspace the registry does not know is not an error.
	record(&eventsv1.WorkspaceSynced{WorkspaceId: "ws-unknown", SyncedAt: timestamppb.New(base)})
}
