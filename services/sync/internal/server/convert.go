package server

import (
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/watch"
)

func viewPB(v domain.View) *syncv1.SyncView { return watch.ViewPB(&v) }

func reportFromPB(r *syncv1.UsageReport) domain.Report {
	return domain.Report{
		UniqueID: r.GetUniqueId(), Address: r.GetAddress(), Version: r.GetVersion(), Seats: r.GetSeats(),
		MonthlyActiveContacts: r.GetMonthlyActiveContacts(), SiteName: r.GetSiteName(),
		ConnectionDisabled: r.GetConnectionDisabled(), Raw: r.GetRawJson(),
	}.Normalize()
}
