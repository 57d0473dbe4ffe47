package httpapi

import (
	"net/http"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// sync is PROTOCOL.md section 4: the workspace reports its usage and gets
// what it must have now.
func (a *API) sync(w http.ResponseWriter, r *http.Request) {
	view, ok := a.reportUsage(w, r)
	if !ok {
		return
	}
	publicKey, err := a.up.LicensePublicKeyPEM(r.Context(), licenseKID(view.GetLicense()))
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"workspaceId":           claimsFrom(r.Context()).WorkspaceID(),
		"publicKey":             publicKey,
		"license":               view.GetLicense(),
		"removeLicense":         view.GetRemoveLicense(),
		"cloudSyncAnnouncement": nil,
	})
}

// reportUsage decodes the registration data of a sync (current or legacy),
// stores it as the workspace's usage report and returns the workspace's view.
// On false the error answer is written.
func (a *API) reportUsage(w http.ResponseWriter, r *http.Request) (*syncv1.SyncView, bool) {
	claims := claimsFrom(r.Context())
	var data registrationData
	raw, perr := decodeJSON(r, &data)
	if perr != nil {
		writeError(w, *perr)
		return nil, false
	}
	if data.WorkspaceID != "" && data.WorkspaceID != claims.WorkspaceID() {
		writeError(w, badRequest("invalid_request", "workspaceId: differs from the workspace of the access token"))
		return nil, false
	}
	report := &syncv1.UsageReport{
		UniqueId: data.UniqueID, Address: data.Address, Version: data.Version, SiteName: data.SiteName,
		ConnectionDisabled: data.ConnectionDisable, RawJson: string(raw),
	}
	// Usage counts are stats: stored only with the stats scope.
	if claims.HasScope("workspace:stats:write") {
		if data.Seats != nil {
			report.Seats = *data.Seats
		}
		if data.MAC != nil {
			report.MonthlyActiveContacts = *data.MAC
		}
	}
	resp, err := a.up.Sync.Sync(r.Context(), &syncv1.SyncRequest{WorkspaceId: claims.WorkspaceID(), Report: report})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return nil, false
	}
	return resp.GetView(), true
}
