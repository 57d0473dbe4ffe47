package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/cloudlicense/authority/services/gateway/internal/accesstoken"
)

type claimsKey struct{}

// workspace guards a WS/... endpoint: a valid access token with scope, for
// the workspace named in the path (any other id is 404, never that
// workspace's data).
func (a *API) workspace(scope string, h http.HandlerFunc) http.HandlerFunc {
	return a.accessTokenFor(scope, true, h)
}

// workspaceToken guards an endpoint under BASE that a workspace calls with
// its access token (comms): the token decides the workspace.
func (a *API) workspaceToken(scope string, h http.HandlerFunc) http.HandlerFunc {
	return a.accessTokenFor(scope, false, h)
}

func (a *API) accessTokenFor(scope string, pathBound bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, protocolError{http.StatusUnauthorized, "invalid_token", "missing access token (Authorization: Bearer <token>)"})
			return
		}
		claims, err := a.verifier.Verify(r.Context(), token)
		switch {
		case errors.Is(err, accesstoken.ErrExpired):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="expired"`)
			writeError(w, protocolError{http.StatusUnauthorized, "invalid_token", "the access token has expired"})
			return
		case errors.Is(err, accesstoken.ErrInvalid):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, protocolError{http.StatusUnauthorized, "invalid_token", "the access token is invalid"})
			return
		case err != nil:
			writeError(w, fromRPC(a.log, r, err))
			return
		}
		if !a.limitWorkspace(w, r, claims.WorkspaceID()) {
			return
		}
		if !claims.HasScope(scope) {
			writeError(w, protocolError{http.StatusForbidden, "insufficient_scope", "the access token lacks scope " + scope})
			return
		}
		if pathBound && r.PathValue("workspaceId") != claims.WorkspaceID() {
			writeError(w, protocolError{http.StatusNotFound, "not_found", "workspace not found"})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	}
}

func claimsFrom(ctx context.Context) accesstoken.Claims {
	c, _ := ctx.Value(claimsKey{}).(accesstoken.Claims)
	return c
}
