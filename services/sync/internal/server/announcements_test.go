package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/harness"
	"github.com/cloudlicense/authority/services/sync/internal/server"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

func TestAnnouncementPolicyListsEveryMethod(t *testing.T) {
	if missing := server.AnnouncementPolicy.MissingMethods(syncv1.AnnouncementService_ServiceDesc); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
}

type announceEnv struct {
	pool  *pgxpool.Pool
	store *store.Store
	dial  func(key string) syncv1.AnnouncementServiceClient
}

func startAnnouncements(t *testing.T) announceEnv {
	t.Helper()
	log := harness.Logger(t)
	pool := harness.Database(t)
	st := store.New(pool)
	auth := authn.NewRemote(serviceKey, func(_ context.Context, key string) (authn.Principal, error) {
		role, ok := keys[key]
		if !ok {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		return authn.Principal{KeyID: key, Name: key, Role: role}, nil
	})
	srv := grpcserver.New(log, auth, server.AnnouncementPolicy)
	syncv1.RegisterAnnouncementServiceServer(srv.Server, server.NewAnnouncements(st, log))
	lis := bufconn.Listen(1 << 20)
	harness.Go(t, func(ctx context.Context) error { return srv.Serve(ctx, lis, time.Second) })
	return announceEnv{pool: pool, store: st, dial: func(key string) syncv1.AnnouncementServiceClient {
		conn, err := grpc.NewClient("passthrough:///sync",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(authn.APIKey(key)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return syncv1.NewAnnouncementServiceClient(conn)
	}}
}

// planLicense is a license (unsigned: only its claims matter here) on plan.
func planLicense(t *testing.T, ws, plan string) string {
	t.Helper()
	doc := license.Document{Version: license.Version, Information: license.Information{ID: "l", CreatedAt: "2025-01-01T00:00:00.000Z",
		GrantedBy: license.GrantedBy{Method: license.GrantedManually}}, Validation: license.Validation{StatisticsReport: &license.StatisticsReport{}},
		CloudMeta: &license.CloudMeta{WorkspaceID: ws, PlanID: plan}}
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return license.Prefix + enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"k"}`)) + "." + enc(payload) + "." + enc([]byte("sig"))
}

func createReq(key string, target syncv1.Target) *syncv1.CreateAnnouncementRequest {
	return &syncv1.CreateAnnouncementRequest{
		IdempotencyKey: key, Target: target, DictionaryJson: `{"en":{"title":"Maintenance"}}`,
		ViewJson: `{"blocks":[]}`, ExpireAt: timestamppb.New(time.Now().Add(time.Hour)),
	}
}

func TestAnnouncementsTargetingAndWithdrawal(t *testing.T) {
	t.Parallel()
	e := startAnnouncements(t)
	ctx := t.Context()
	for ws, plan := range map[string]string{"ws-pro": "pro", "ws-starter": "starter"} {
		if _, err := e.store.ApplyLicense(ctx, e.pool, ws, domain.License{Sequence: 1, Token: planLicense(t, ws, plan)}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.dial("admin-key")
	all, err := admin.CreateAnnouncement(ctx, createReq("k-all", syncv1.Target_TARGET_ALL))
	if err != nil {
		t.Fatal(err)
	}
	a := all.GetAnnouncement()
	if len(a.GetId()) != 24 || a.GetSurface() != syncv1.Surface_SURFACE_BANNER || !slices.Equal(a.GetPlatforms(), []string{"web"}) || a.GetCreatedBy() != "cloud" {
		t.Fatalf("defaults: %v", a)
	}
	pro := createReq("k-pro", syncv1.Target_TARGET_PLANS)
	pro.PlanIds = []string{"pro"}
	pro.Surface = syncv1.Surface_SURFACE_MODAL
	proA, err := e.dial("support-key").CreateAnnouncement(ctx, pro)
	if err != nil {
		t.Fatal(err)
	}
	one := createReq("k-one", syncv1.Target_TARGET_WORKSPACES)
	one.WorkspaceIds = []string{"ws-starter"}
	oneA, err := admin.CreateAnnouncement(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	// The same request again: the same announcement.
	if again, err := admin.CreateAnnouncement(ctx, one); err != nil || again.GetAnnouncement().GetId() != oneA.GetAnnouncement().GetId() {
		t.Fatalf("repeat create: %v %v", again, err)
	}
	other := createReq("k-one", syncv1.Target_TARGET_ALL)
	_, err = admin.CreateAnnouncement(ctx, other)
	wantStatus(t, err, codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")

	svc := e.dial(serviceKey)
	ids := func(ws string) (create, del []string) {
		t.Helper()
		resp, err := svc.GetWorkspaceAnnouncements(ctx, &syncv1.GetWorkspaceAnnouncementsRequest{WorkspaceId: ws})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.GetCreate() {
			create = append(create, a.GetId())
		}
		return create, resp.GetDelete()
	}
	allID, proID, oneID := a.GetId(), proA.GetAnnouncement().GetId(), oneA.GetAnnouncement().GetId()
	if c, d := ids("ws-pro"); !slices.Equal(c, []string{allID, proID}) || len(d) != 0 {
		t.Fatalf("ws-pro: create %v delete %v", c, d)
	}
	if c, d := ids("ws-starter"); !slices.Equal(c, []string{allID, oneID}) || len(d) != 0 {
		t.Fatalf("ws-starter: create %v delete %v", c, d)
	}
	if c, _ := ids("ws-unknown"); !slices.Equal(c, []string{allID}) {
		t.Fatalf("a workspace without a view: %v", c)
	}

	w, err := admin.WithdrawAnnouncement(ctx, &syncv1.WithdrawAnnouncementRequest{Id: proID})
	if err != nil || w.GetAnnouncement().GetWithdrawnAt() == nil {
		t.Fatalf("withdraw: %v %v", w, err)
	}
	w2, err := admin.WithdrawAnnouncement(ctx, &syncv1.WithdrawAnnouncementRequest{Id: proID})
	if err != nil || !w2.GetAnnouncement().GetWithdrawnAt().AsTime().Equal(w.GetAnnouncement().GetWithdrawnAt().AsTime()) {
		t.Fatalf("second withdraw moved the time: %v %v", w2, err)
	}
	if c, d := ids("ws-pro"); !slices.Equal(c, []string{allID}) || !slices.Equal(d, []string{proID}) {
		t.Fatalf("ws-pro after withdrawal: create %v delete %v", c, d)
	}
	if _, d := ids("ws-starter"); len(d) != 0 {
		t.Fatalf("ws-starter told to delete %v, which it never had", d)
	}
	_, err = admin.WithdrawAnnouncement(ctx, &syncv1.WithdrawAnnouncementRequest{Id: "nope"})
	wantStatus(t, err, codes.NotFound, "ANNOUNCEMENT_NOT_FOUND")

	live, err := e.dial("operator-key").ListAnnouncements(ctx, &syncv1.ListAnnouncementsRequest{})
	if err != nil || len(live.GetAnnouncements()) != 2 {
		t.Fatalf("live list: %v %v", live, err)
	}
	every, err := admin.ListAnnouncements(ctx, &syncv1.ListAnnouncementsRequest{IncludeInactive: true})
	if err != nil || len(every.GetAnnouncements()) != 3 {
		t.Fatalf("full list: %v %v", every, err)
	}
}

func TestAnnouncementAuthorization(t *testing.T) {
	t.Parallel()
	e := startAnnouncements(t)
	tests := []struct {
		key                    string
		create, withdraw, list codes.Code
		deliver                codes.Code
	}{
		{"admin-key", codes.OK, codes.NotFound, codes.OK, codes.OK},
		{"support-key", codes.OK, codes.NotFound, codes.OK, codes.PermissionDenied},
		{"billing-key", codes.PermissionDenied, codes.PermissionDenied, codes.OK, codes.PermissionDenied},
		{"operator-key", codes.PermissionDenied, codes.PermissionDenied, codes.OK, codes.PermissionDenied},
		{serviceKey, codes.PermissionDenied, codes.PermissionDenied, codes.PermissionDenied, codes.OK},
		{"unknown-key", codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := e.dial(tt.key)
			_, err := c.CreateAnnouncement(t.Context(), createReq("auth-"+tt.key, syncv1.Target_TARGET_ALL))
			if got := rpcerr.Code(err); got != tt.create {
				t.Errorf("create: %v (%v), want %v", got, err, tt.create)
			}
			_, err = c.WithdrawAnnouncement(t.Context(), &syncv1.WithdrawAnnouncementRequest{Id: "missing"})
			if got := rpcerr.Code(err); got != tt.withdraw {
				t.Errorf("withdraw: %v (%v), want %v", got, err, tt.withdraw)
			}
			_, err = c.ListAnnouncements(t.Context(), &syncv1.ListAnnouncementsRequest{})
			if got := rpcerr.Code(err); got != tt.list {
				t.Errorf("list: %v (%v), want %v", got, err, tt.list)
			}
			_, err = c.GetWorkspaceAnnouncements(t.Context(), &syncv1.GetWorkspaceAnnouncementsRequest{WorkspaceId: "ws"})
			if got := rpcerr.Code(err); got != tt.deliver {
				t.Errorf("deliver: %v (%v), want %v", got, err, tt.deliver)
			}
		})
	}
}

func TestCreateAnnouncementNamesBadFields(t *testing.T) {
	t.Parallel()
	e := startAnnouncements(t)
	admin := e.dial("admin-key")
	tests := []struct {
		name   string
		mutate func(r *syncv1.CreateAnnouncementRequest)
		field  string
	}{
		{"no key", func(r *syncv1.CreateAnnouncementRequest) { r.IdempotencyKey = "" }, "idempotency_key"},
		{"no target", func(r *syncv1.CreateAnnouncementRequest) { r.Target = syncv1.Target_TARGET_UNSPECIFIED }, "target"},
		{"plans without ids", func(r *syncv1.CreateAnnouncementRequest) { r.Target = syncv1.Target_TARGET_PLANS }, "plan_ids"},
		{"workspaces without ids", func(r *syncv1.CreateAnnouncementRequest) { r.Target = syncv1.Target_TARGET_WORKSPACES }, "workspace_ids"},
		{"all with ids", func(r *syncv1.CreateAnnouncementRequest) { r.PlanIds = []string{"pro"} }, "target"},
		{"dictionary not JSON", func(r *syncv1.CreateAnnouncementRequest) { r.DictionaryJson = "{" }, "dictionary_json"},
		{"dictionary of numbers", func(r *syncv1.CreateAnnouncementRequest) { r.DictionaryJson = `{"en":{"title":1}}` }, "dictionary_json"},
		{"view an array", func(r *syncv1.CreateAnnouncementRequest) { r.ViewJson = `[]` }, "view_json"},
		{"bad surface", func(r *syncv1.CreateAnnouncementRequest) { r.Surface = syncv1.Surface(9) }, "surface"},
		{"bad platform", func(r *syncv1.CreateAnnouncementRequest) { r.Platforms = []string{"desktop"} }, "platforms[0]"},
		{"bad creator", func(r *syncv1.CreateAnnouncementRequest) { r.CreatedBy = "me" }, "created_by"},
		{"no expiry", func(r *syncv1.CreateAnnouncementRequest) { r.ExpireAt = nil }, "expire_at"},
		{"expires before start", func(r *syncv1.CreateAnnouncementRequest) {
			r.StartAt = timestamppb.New(time.Now().Add(2 * time.Hour))
		}, "expire_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := createReq("bad-"+tt.name, syncv1.Target_TARGET_ALL)
			tt.mutate(r)
			_, err := admin.CreateAnnouncement(t.Context(), r)
			wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
			if !slices.ContainsFunc(rpcerr.Fields(err), func(f rpcerr.FieldViolation) bool { return f.Field == tt.field }) {
				t.Fatalf("fields %v do not name %s", rpcerr.Fields(err), tt.field)
			}
		})
	}
	list, err := admin.ListAnnouncements(t.Context(), &syncv1.ListAnnouncementsRequest{IncludeInactive: true})
	if err != nil || len(list.GetAnnouncements()) != 0 {
		t.Fatalf("a refused create left %d announcements (%v)", len(list.GetAnnouncements()), err)
	}
}
