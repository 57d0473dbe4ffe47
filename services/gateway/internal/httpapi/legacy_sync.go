package httpapi

import (
	"net/http"

	"github.com/cloudlicense/authority/pkg/license"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// legacySync is PROTOCOL.md section 4's legacy sync (POST WS/client): it
// stores the usage report like sync and answers with what older workspaces
// check, the license itself following by GET WS/license. nps, banners and
// announcements are always present: the stock client rejects the answer
// otherwise.
func (a *API) legacySync(w http.ResponseWriter, r *http.Request) {
	view, ok := a.reportUsage(w, r)
	if !ok {
		return
	}
	workspaceID := claimsFrom(r.Context()).WorkspaceID()
	publicKey, err := a.up.LicensePublicKeyPEM(r.Context(), licenseKID(view.GetLicense()))
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	list, ok := a.workspaceAnnouncements(w, r, workspaceID)
	if !ok {
		return
	}
	body := map[string]any{
		"workspaceId":   workspaceID,
		"publicKey":     publicKey,
		"nps":           noSurvey,
		"banners":       []any{},
		"announcements": list,
	}
	if !view.GetRemoveLicense() && view.GetLicense() != "" {
		// The license is the authority's own, read from the view: its claims
		// need no second signature check here.
		if doc, _, err := license.ParseUnverified(view.GetLicense()); err == nil && doc.Information.Trial {
			trial, err := a.trial(r, workspaceID, doc)
			if err != nil {
				writeError(w, fromRPC(a.log, r, err))
				return
			}
			body["trial"] = trial
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// trial describes the trial a workspace's current license is.
func (a *API) trial(r *http.Request, workspaceID string, doc *license.Document) (map[string]any, error) {
	planID := ""
	if doc.CloudMeta != nil {
		planID = doc.CloudMeta.PlanID
	}
	fallback, err := a.defaultPlan(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"trialing": true,
		// Stable across the re-issues of one trial (an extension).
		"trialID":   workspaceID + "-" + planID + "-trial",
		"endDate":   expireAt(doc),
		"marketing": map[string]string{"utmContent": "", "utmMedium": "", "utmSource": "", "utmCampaign": ""},
		// The plan the workspace falls back to when the trial ends.
		"DowngradesToPlan": map[string]string{"id": fallback},
		"trialRequested":   true,
	}, nil
}

// defaultPlan is the free plan a cancelled subscription or an ended trial
// falls back to: the signer's default plan, else its first free plan.
func (a *API) defaultPlan(r *http.Request) (string, error) {
	resp, err := a.up.Signer.ListPlans(r.Context(), &signerv1.ListPlansRequest{})
	if err != nil {
		return "", err
	}
	free := ""
	for _, p := range resp.GetPlans() {
		if p.GetIsDefault() {
			return p.GetId(), nil
		}
		if p.GetFree() && free == "" {
			free = p.GetId()
		}
	}
	return free, nil
}
