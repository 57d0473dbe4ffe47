package server

import (
	"context"
	"errors"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// Sync implements the RPC. It is the hot path: when the workspace's license
// still fits, it is one statement and no call to the signer. The signer is
// asked only when the workspace has no view yet or its license is bound to
// another address, and never inside a transaction.
func (s *Server) Sync(ctx context.Context, req *syncv1.SyncRequest) (*syncv1.SyncResponse, error) {
	id := req.GetWorkspaceId()
	if err := domain.ValidateWorkspaceID(id); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	report := reportFromPB(req.GetReport())
	if err := report.Validate(); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if s.versions != nil {
		if err := s.versions.Check(ctx, id, report.Version); err != nil {
			return nil, s.errs.Map(ctx, err)
		}
	}
	view, err := s.store.RecordReport(ctx, id, report)
	switch {
	case errors.Is(err, domain.ErrWorkspaceNotFound):
		// The first sync: the view is created with the license the signer
		// issues for this address, and the report is kept with it.
		lic, err := s.signer.EnsureLicense(ctx, id, report.Address)
		if err != nil {
			return nil, s.errs.Map(ctx, err)
		}
		if view, err = s.store.RecordSync(ctx, id, lic, report); err != nil {
			return nil, s.errs.Map(ctx, err)
		}
	case err != nil:
		return nil, s.errs.Map(ctx, err)
	case view.NeedsLicense(report.Address) && !view.RemoveLicense:
		// (A workspace told to drop its license gets no new one by moving.)
		lic, err := s.signer.EnsureLicense(ctx, id, report.Address)
		switch {
		case err == nil:
			if view, err = s.store.ApplyLicenseView(ctx, id, lic); err != nil {
				return nil, s.errs.Map(ctx, err)
			}
		case errors.Is(err, domain.ErrSignerUnavailable) && view.HasLicense():
			// The license the workspace has is still good until the signer
			// is back; its next sync asks again.
			s.log.WarnContext(ctx, "serving the current license while the signer is unavailable", "workspace_id", id, "error", err)
		default:
			return nil, s.errs.Map(ctx, err)
		}
	}
	return &syncv1.SyncResponse{View: viewPB(view)}, nil
}
