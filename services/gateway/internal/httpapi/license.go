package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// licenseFetch is the legacy license fetch (GET WS/license?version=3,
// PROTOCOL.md section 4): the workspace's current license with the time it
// last changed, which the workspace compares with its own.
func (a *API) licenseFetch(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("version"); v != "3" {
		writeError(w, badRequest("invalid_request", "version: only version=3 licenses are issued, got "+quoteOrMissing(v)))
		return
	}
	resp, err := a.up.Sync.GetSyncView(r.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: claimsFrom(r.Context()).WorkspaceID()})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	writeJSON(w, http.StatusOK, licenseData(resp.GetView()))
}

func quoteOrMissing(v string) string {
	if v == "" {
		return "none"
	}
	return `"` + v + `"`
}

// licenseData is the workspace's license as the legacy fetch and the
// registration poll's licenseData carry it. updatedAt is when the view's
// license last changed (never earlier than before); expireAt is the
// license's visual expiration, else its last validUntil, and null for a
// license with no end. A view whose license was removed carries no license.
func licenseData(v *syncv1.SyncView) map[string]any {
	lic := v.GetLicense()
	if v.GetRemoveLicense() {
		lic = ""
	}
	out := map[string]any{
		"version":   3,
		"address":   v.GetAddress(),
		"license":   lic,
		"updatedAt": license.FormatTime(v.GetUpdatedAt().AsTime()),
		"modules":   "",
		"expireAt":  nil,
	}
	if lic == "" {
		return out
	}
	doc, _, err := license.ParseUnverified(lic)
	if err != nil {
		return out
	}
	names := make([]string, 0, len(doc.GrantedModules))
	for _, m := range doc.GrantedModules {
		names = append(names, m.Module)
	}
	out["modules"] = strings.Join(names, ",")
	if end := expireAt(doc); end != "" {
		out["expireAt"] = end
	}
	return out
}

// expireAt is when the license ends for the workspace's admins: its visual
// expiration, else the latest end of its valid periods; "" when it has none.
func expireAt(doc *license.Document) string {
	if doc.Information.VisualExpiration != "" {
		return doc.Information.VisualExpiration
	}
	var last time.Time
	for _, p := range doc.Validation.ValidPeriods {
		if t, err := license.ParseTime(p.ValidUntil); err == nil && t.After(last) {
			last = t
		}
	}
	if last.IsZero() {
		return ""
	}
	return license.FormatTime(last)
}
