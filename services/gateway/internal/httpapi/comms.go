package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/cloudlicense/authority/pkg/license"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// noSurvey is the nps a workspace gets when no survey runs: already over.
var noSurvey = map[string]string{"id": "none", "startAt": "1970-01-01T00:00:00Z", "expireAt": "1970-01-01T00:00:00Z"}

// announcement is one announcement as a workspace stores it (PROTOCOL.md 5).
type announcement struct {
	ID         string          `json:"_id"`
	UpdatedAt  string          `json:"_updatedAt"`
	Selector   selector        `json:"selector"`
	Platform   []string        `json:"platform"`
	ExpireAt   string          `json:"expireAt"`
	StartAt    string          `json:"startAt"`
	CreatedBy  string          `json:"createdBy"`
	CreatedAt  string          `json:"createdAt"`
	Dictionary json.RawMessage `json:"dictionary"`
	View       json.RawMessage `json:"view"`
	Surface    string          `json:"surface"`
}

type selector struct {
	Roles []string `json:"roles"`
}

// announcements is the "announcements" member of comms and legacy sync.
type announcements struct {
	Create []announcement `json:"create"`
	Delete []string       `json:"delete"`
}

var surfaceNames = map[syncv1.Surface]string{syncv1.Surface_SURFACE_BANNER: "banner", syncv1.Surface_SURFACE_MODAL: "modal"}

// workspaceAnnouncements fetches what the workspace of the request must show
// and delete. On false the error answer is written.
func (a *API) workspaceAnnouncements(w http.ResponseWriter, r *http.Request, workspaceID string) (announcements, bool) {
	resp, err := a.up.Announcements.GetWorkspaceAnnouncements(r.Context(), &syncv1.GetWorkspaceAnnouncementsRequest{WorkspaceId: workspaceID})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return announcements{}, false
	}
	out := announcements{Create: make([]announcement, 0, len(resp.GetCreate())), Delete: append([]string{}, resp.GetDelete()...)}
	for _, an := range resp.GetCreate() {
		out.Create = append(out.Create, announcement{
			ID: an.GetId(), UpdatedAt: license.FormatTime(an.GetUpdatedAt().AsTime()),
			Selector: selector{Roles: append([]string{}, an.GetRoles()...)}, Platform: append([]string{}, an.GetPlatforms()...),
			ExpireAt: license.FormatTime(an.GetExpireAt().AsTime()), StartAt: license.FormatTime(an.GetStartAt().AsTime()),
			CreatedBy: an.GetCreatedBy(), CreatedAt: license.FormatTime(an.GetCreatedAt().AsTime()),
			Dictionary: json.RawMessage(an.GetDictionaryJson()), View: json.RawMessage(an.GetViewJson()),
			Surface: surfaceNames[an.GetSurface()],
		})
	}
	return out, true
}

// comms is PROTOCOL.md section 5: the announcements for the workspace of the
// access token. nps is left out: no survey runs.
func (a *API) comms(w http.ResponseWriter, r *http.Request) {
	claims := claimsFrom(r.Context())
	var data registrationData
	if _, perr := decodeJSON(r, &data); perr != nil {
		writeError(w, *perr)
		return
	}
	if data.WorkspaceID != "" && data.WorkspaceID != claims.WorkspaceID() {
		writeError(w, badRequest("invalid_request", "workspaceId: differs from the workspace of the access token"))
		return
	}
	list, ok := a.workspaceAnnouncements(w, r, claims.WorkspaceID())
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"announcements": list})
}
