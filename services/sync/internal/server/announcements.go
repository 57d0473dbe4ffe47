package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/store"
)

// AnnouncementPolicy says which roles may call each AnnouncementService RPC
// (admin may call all).
var AnnouncementPolicy = authn.Policy{
	syncv1.AnnouncementService_CreateAnnouncement_FullMethodName:        {authn.RoleSupport},
	syncv1.AnnouncementService_WithdrawAnnouncement_FullMethodName:      {authn.RoleSupport},
	syncv1.AnnouncementService_ListAnnouncements_FullMethodName:         {authn.RoleSupport, authn.RoleBilling, authn.RoleOperatorRead},
	syncv1.AnnouncementService_GetWorkspaceAnnouncements_FullMethodName: {authn.RoleService},
}

// Announcements implements syncv1.AnnouncementServiceServer.
type Announcements struct {
	syncv1.UnimplementedAnnouncementServiceServer
	store *store.Store
	errs  rpcerr.Mapper
	now   func() time.Time
}

// NewAnnouncements returns the announcement server.
func NewAnnouncements(st *store.Store, log *slog.Logger) *Announcements {
	return &Announcements{store: st, now: time.Now, errs: rpcerr.Mapper{Domain: errDomain, Log: log, Rules: []rpcerr.Rule{
		{Err: domain.ErrInvalidRequest, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
		{Err: domain.ErrAnnouncementNotFound, Code: codes.NotFound, Reason: "ANNOUNCEMENT_NOT_FOUND"},
		{Err: domain.ErrIdempotencyKeyReused, Code: codes.FailedPrecondition, Reason: "IDEMPOTENCY_KEY_REUSED"},
	}}}
}

var targets = map[syncv1.Target]domain.Target{
	syncv1.Target_TARGET_ALL: domain.TargetAll, syncv1.Target_TARGET_PLANS: domain.TargetPlans, syncv1.Target_TARGET_WORKSPACES: domain.TargetWorkspaces,
}

var surfaces = map[syncv1.Surface]string{
	syncv1.Surface_SURFACE_BANNER: domain.SurfaceBanner, syncv1.Surface_SURFACE_MODAL: domain.SurfaceModal,
}

// CreateAnnouncement implements the RPC.
func (s *Announcements) CreateAnnouncement(ctx context.Context, req *syncv1.CreateAnnouncementRequest) (*syncv1.CreateAnnouncementResponse, error) {
	a := domain.Announcement{
		IdempotencyKey: req.GetIdempotencyKey(), Target: targets[req.GetTarget()], PlanIDs: req.GetPlanIds(),
		WorkspaceIDs: req.GetWorkspaceIds(), Dictionary: req.GetDictionaryJson(), View: req.GetViewJson(),
		Surface: surfaces[req.GetSurface()], Platforms: req.GetPlatforms(), Roles: req.GetRoles(),
		CreatedBy: strings.TrimSpace(req.GetCreatedBy()),
	}
	if req.GetSurface() != syncv1.Surface_SURFACE_UNSPECIFIED && a.Surface == "" {
		a.Surface = "unknown"
	}
	if req.StartAt != nil {
		a.StartAt = req.GetStartAt().AsTime()
	}
	if req.ExpireAt != nil {
		a.ExpireAt = req.GetExpireAt().AsTime()
	}
	a = a.Normalize(s.now())
	if err := a.Validate(); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	created, err := s.store.CreateAnnouncement(ctx, a)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &syncv1.CreateAnnouncementResponse{Announcement: announcementPB(created)}, nil
}

// WithdrawAnnouncement implements the RPC.
func (s *Announcements) WithdrawAnnouncement(ctx context.Context, req *syncv1.WithdrawAnnouncementRequest) (*syncv1.WithdrawAnnouncementResponse, error) {
	id := strings.TrimSpace(req.GetId())
	if id == "" || len(id) > 128 {
		return nil, s.errs.Map(ctx, invalid("id", "required, at most 128 characters"))
	}
	a, err := s.store.WithdrawAnnouncement(ctx, id)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &syncv1.WithdrawAnnouncementResponse{Announcement: announcementPB(a)}, nil
}

// ListAnnouncements implements the RPC.
func (s *Announcements) ListAnnouncements(ctx context.Context, req *syncv1.ListAnnouncementsRequest) (*syncv1.ListAnnouncementsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, s.errs.Map(ctx, invalid("page_size", "must be 0 (default 100) to 1000"))
	case size == 0:
		size = 100
	}
	list, err := s.store.ListAnnouncements(ctx, req.GetIncludeInactive(), s.now(), size)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	out := &syncv1.ListAnnouncementsResponse{Announcements: make([]*syncv1.Announcement, 0, len(list))}
	for _, a := range list {
		out.Announcements = append(out.Announcements, announcementPB(a))
	}
	return out, nil
}

// GetWorkspaceAnnouncements implements the RPC. The workspace's plan is the
// one of the license its view holds; a workspace without a view (or whose
// license names no plan) gets only what targets every workspace or it by id.
func (s *Announcements) GetWorkspaceAnnouncements(ctx context.Context, req *syncv1.GetWorkspaceAnnouncementsRequest) (*syncv1.GetWorkspaceAnnouncementsResponse, error) {
	id := req.GetWorkspaceId()
	if err := domain.ValidateWorkspaceID(id); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	var planID string
	view, err := s.store.View(ctx, id)
	switch {
	case err == nil:
		planID = planOf(view.License)
	case !errors.Is(err, domain.ErrWorkspaceNotFound):
		return nil, s.errs.Map(ctx, err)
	}
	list, err := s.store.WorkspaceAnnouncements(ctx, id, planID, s.now())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	out := &syncv1.GetWorkspaceAnnouncementsResponse{Create: []*syncv1.Announcement{}, Delete: []string{}}
	for _, a := range list {
		if a.WithdrawnAt != nil {
			out.Delete = append(out.Delete, a.ID)
			continue
		}
		out.Create = append(out.Create, announcementPB(a))
	}
	return out, nil
}

// planOf reads the plan id from a license the authority signed itself, so
// the signature need not be checked again here.
func planOf(lic string) string {
	if lic == "" {
		return ""
	}
	doc, _, err := license.ParseUnverified(lic)
	if err != nil || doc.CloudMeta == nil {
		return ""
	}
	return doc.CloudMeta.PlanID
}

func invalid(field, reason string) error {
	return errors.Join(domain.ErrInvalidRequest, validate.Field(field, "%s", reason))
}

func announcementPB(a domain.Announcement) *syncv1.Announcement {
	pb := &syncv1.Announcement{
		Id: a.ID, PlanIds: a.PlanIDs, WorkspaceIds: a.WorkspaceIDs, DictionaryJson: a.Dictionary, ViewJson: a.View,
		Platforms: a.Platforms, Roles: a.Roles, StartAt: timestamppb.New(a.StartAt), ExpireAt: timestamppb.New(a.ExpireAt),
		CreatedBy: a.CreatedBy, CreatedAt: timestamppb.New(a.CreatedAt), UpdatedAt: timestamppb.New(a.UpdatedAt),
	}
	for k, v := range targets {
		if v == a.Target {
			pb.Target = k
		}
	}
	for k, v := range surfaces {
		if v == a.Surface {
			pb.Surface = k
		}
	}
	if a.WithdrawnAt != nil {
		pb.WithdrawnAt = timestamppb.New(*a.WithdrawnAt)
	}
	return pb
}
