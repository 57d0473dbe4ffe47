package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/validate"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// Page sizes of the usage RPCs.
const (
	defaultHistory  = 20
	maxHistory      = 500
	defaultOverPage = 100
	maxOverPage     = 1000
)

// GetUsage implements the RPC.
func (s *Server) GetUsage(ctx context.Context, req *syncv1.GetUsageRequest) (*syncv1.GetUsageResponse, error) {
	if err := domain.ValidateWorkspaceID(req.GetWorkspaceId()); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	n, err := pageSize("history_limit", req.GetHistoryLimit(), defaultHistory, maxHistory)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	u, err := s.store.Usage(ctx, req.GetWorkspaceId(), n)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &syncv1.GetUsageResponse{
		WorkspaceId: u.WorkspaceID, LicenseSequence: u.LicenseSequence, Limits: limitsPB(u.Limits), Over: u.Over(),
	}
	if u.Latest != nil {
		resp.Latest = usagePB(*u.Latest)
	}
	for _, r := range u.History {
		resp.History = append(resp.History, usagePB(r))
	}
	return resp, nil
}

// ListOverLimit implements the RPC. The page token is the last workspace id
// of the previous page.
func (s *Server) ListOverLimit(ctx context.Context, req *syncv1.ListOverLimitRequest) (*syncv1.ListOverLimitResponse, error) {
	n, err := pageSize("page_size", req.GetPageSize(), defaultOverPage, maxOverPage)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	after := ""
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) > 256 || !utf8.Valid(b) {
			return nil, s.errs.Map(ctx, invalidRequest(validate.Field("page_token", "not a token this service returned")))
		}
		after = string(b)
	}
	list, err := s.store.OverLimit(ctx, after, n)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &syncv1.ListOverLimitResponse{}
	for _, u := range list {
		resp.Workspaces = append(resp.Workspaces, &syncv1.OverLimitWorkspace{
			WorkspaceId: u.WorkspaceID, LicenseSequence: u.LicenseSequence, Latest: usagePB(*u.Latest), Limits: limitsPB(u.Limits), Over: u.Over(),
		})
	}
	if len(list) == n {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(list[len(list)-1].WorkspaceID))
	}
	return resp, nil
}

func pageSize(field string, v, def, limit int32) (int, error) {
	switch {
	case v == 0:
		return int(def), nil
	case v < 0 || v > limit:
		return 0, invalidRequest(validate.Field(field, "must be between 1 and %d, got %d", limit, v))
	}
	return int(v), nil
}

// invalidRequest marks a bad field of an internal caller's request (not a
// workspace's registration data).
func invalidRequest(err error) error { return fmt.Errorf("%w: %w", domain.ErrInvalidRequest, err) }

func usagePB(r domain.UsageRecord) *syncv1.UsageRecord {
	return &syncv1.UsageRecord{
		UniqueId: r.UniqueID, Address: r.Address, Version: r.Version, Seats: r.Seats,
		MonthlyActiveContacts: r.MonthlyActiveContacts, ConnectionDisabled: r.ConnectionDisabled, ReceivedAt: timestamppb.New(r.ReceivedAt),
	}
}

func limitsPB(l domain.Limits) *syncv1.LicenseLimits {
	return &syncv1.LicenseLimits{ActiveUsers: l.ActiveUsers, MonthlyActiveContacts: l.MonthlyActiveContacts}
}
