package server

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

func viewPB(v domain.View) *syncv1.SyncView {
	pb := &syncv1.SyncView{
		WorkspaceId: v.WorkspaceID, Revision: v.Revision, LicenseSequence: v.LicenseSequence, License: v.License,
		RemoveLicense: v.RemoveLicense, Address: v.LicenseAddress, UpdatedAt: timestamppb.New(v.UpdatedAt),
	}
	if v.LastSyncedAt != nil {
		pb.LastSyncedAt = timestamppb.New(*v.LastSyncedAt)
	}
	return pb
}

func reportFromPB(r *syncv1.UsageReport) domain.Report {
	return domain.Report{
		UniqueID: r.GetUniqueId(), Address: r.GetAddress(), Version: r.GetVersion(), Seats: r.GetSeats(),
		MonthlyActiveContacts: r.GetMonthlyActiveContacts(), SiteName: r.GetSiteName(),
		ConnectionDisabled: r.GetConnectionDisabled(), Raw: r.GetRawJson(),
	}.Normalize()
}
