package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// accessToken is PROTOCOL.md section 3: the OAuth 2.0 client-credentials
// grant, form encoded.
func (a *API) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, protocolError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("body larger than %d bytes", tooBig.Limit)})
			return
		}
		writeError(w, badRequest("invalid_request", "the body must be application/x-www-form-urlencoded"))
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		writeError(w, badRequest("invalid_request", "grant_type is required"))
		return
	default:
		writeError(w, badRequest("unsupported_grant_type", "grant_type "+quote(gt)+" is not supported; use client_credentials"))
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id, s, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, secret = id, s // RFC 6749 2.3.1 allows HTTP Basic as well
	}
	if clientID == "" || secret == "" {
		writeError(w, badRequest("invalid_request", "client_id and client_secret are required"))
		return
	}
	resp, err := a.up.Tokens.IssueAccessToken(r.Context(), &tokensv1.IssueAccessTokenRequest{
		ClientId: clientID, ClientSecret: secret, Scope: r.PostForm.Get("scope"),
	})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": resp.GetAccessToken(),
		"token_type":   "Bearer",
		"expires_in":   resp.GetExpiresIn(),
		"scope":        resp.GetScope(),
	})
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}
