package httpapi

import (
	"net/http"
	"strings"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
)

// registerWithToken is PROTOCOL.md 2b: POST /api/oauth/clients with the
// registration token as bearer.
func (a *API) registerWithToken(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r)
	if !ok {
		writeError(w, protocolError{http.StatusUnauthorized, "invalid_registration_token", "missing registration token (Authorization: Bearer <token>)"})
		return
	}
	var body struct {
		Email        string   `json:"email"`
		ClientName   string   `json:"client_name"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if _, perr := decodeJSON(r, &body); perr != nil {
		writeError(w, *perr)
		return
	}
	resp, err := a.up.Registry.RegisterWithToken(r.Context(), &registryv1.RegisterWithTokenRequest{
		RegistrationToken: token, Email: body.Email, ClientName: body.ClientName, RedirectUris: body.RedirectURIs,
	})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	publicKey, err := a.up.LicensePublicKeyPEM(r.Context(), "")
	if err != nil {
		// The workspace exists and has credentials; it can fetch the key on
		// sync. Failing here would lose the one-time secret.
		a.log.WarnContext(r.Context(), "license public key unavailable at registration", "error", err)
	}
	redirect := body.RedirectURIs
	if redirect == nil {
		redirect = []string{}
	}
	ws := resp.GetWorkspace()
	writeJSON(w, http.StatusCreated, map[string]any{
		"workspaceId":              ws.GetId(),
		"client_name":              ws.GetClientName(),
		"client_id":                resp.GetClientId(),
		"client_secret":            resp.GetClientSecret(),
		"client_secret_expires_at": 0,
		"redirect_uris":            redirect,
		"publicKey":                publicKey,
		"registration_client_uri":  a.workspaceURL(r, ws.GetId()),
	})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}
