package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
)

// protocolError is the workspace protocol's error body.
type protocolError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, e protocolError) {
	writeJSON(w, e.Status, e)
}

func badRequest(code, description string) protocolError {
	return protocolError{Status: http.StatusBadRequest, Code: code, Description: description}
}

// fromRPC turns an internal service's error into the protocol's answer. The
// ErrorInfo reason decides; codes without a protocol meaning become 503 for
// outages (a workspace retries those) or 500. Never 401 for an outage: a
// workspace that sees oauth_invalid_client_credentials forgets its
// registration.
func fromRPC(log *slog.Logger, r *http.Request, err error) protocolError {
	reason := rpcerr.Reason(err)
	switch {
	case strings.HasPrefix(reason, "REGISTRATION_TOKEN_"):
		return protocolError{http.StatusUnauthorized, "invalid_registration_token", tokenDescriptions[reason]}
	case reason == "CUSTOMER_NOT_FOUND":
		// The token names a customer that no longer exists: for the
		// workspace, the token is simply no good.
		return protocolError{http.StatusUnauthorized, "invalid_registration_token", "the registration token's customer no longer exists"}
	case reason == "INVALID_CLIENT_CREDENTIALS":
		return protocolError{http.StatusUnauthorized, "oauth_invalid_client_credentials", "the client credentials are invalid or revoked"}
	case reason == "INVALID_SCOPE":
		return badRequest("invalid_scope", "none of the requested scopes is allowed for this workspace")
	case reason == "INVALID_REGISTRATION_DATA":
		return badRequest("invalid_registration_data", fieldDescription(err))
	case reason == "INVALID_REQUEST":
		return badRequest("invalid_request", fieldDescription(err))
	case reason == "INVALID_CLIENT_KEY":
		return badRequest("invalid_client_key", fieldDescription(err))
	case reason == "TOO_MANY_MAILS":
		return protocolError{http.StatusTooManyRequests, "too_many_requests", "the confirmation e-mail was sent too many times for this registration; use the last one or start again later"}
	case reason == "INTENTS_DISABLED":
		return protocolError{http.StatusServiceUnavailable, "temporarily_unavailable", "registration by e-mail confirmation is not available right now"}
	case reason == "WORKSPACE_NOT_FOUND":
		return protocolError{http.StatusNotFound, "not_found", "workspace not found"}
	case reason == "NO_PAID_SUBSCRIPTION":
		return protocolError{http.StatusConflict, "no_paid_subscription", "the workspace has no paid subscription or trial to cancel"}
	case reason == "CANCELLATION_PENDING":
		return protocolError{http.StatusConflict, "cancellation_pending", "the subscription is already set to end with its period"}
	case reason == "UNSUPPORTED_VERSION":
		// PROTOCOL.md 4: the workspace shows error_description to its admin,
		// so it is the upstream's message naming the version and its end.
		return protocolError{http.StatusForbidden, "unsupported_version", status.Convert(err).Message()}
	case reason == "SUBSCRIPTION_SUSPENDED":
		return protocolError{http.StatusConflict, "subscription_suspended", "the workspace's subscription is suspended"}
	}
	switch rpcerr.Code(err) {
	case codes.InvalidArgument:
		return badRequest("invalid_request", fieldDescription(err))
	case codes.NotFound:
		return protocolError{http.StatusNotFound, "not_found", "not found"}
	case codes.Unimplemented:
		// A service older than the gateway: an outage, never a refusal.
		log.WarnContext(r.Context(), "upstream does not implement the call", "path", r.URL.Path, "error", err)
		return protocolError{http.StatusServiceUnavailable, "temporarily_unavailable", "the cloud cannot do this yet, retry later"}
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return protocolError{http.StatusServiceUnavailable, "temporarily_unavailable", "the cloud is temporarily unavailable, retry later"}
	}
	log.ErrorContext(r.Context(), "upstream error", "path", r.URL.Path, "error", err)
	return protocolError{http.StatusInternalServerError, "server_error", "internal error"}
}

var tokenDescriptions = map[string]string{
	"REGISTRATION_TOKEN_UNKNOWN": "the registration token is unknown",
	"REGISTRATION_TOKEN_EXPIRED": "the registration token has expired",
	"REGISTRATION_TOKEN_USED_UP": "the registration token has already been used",
	"REGISTRATION_TOKEN_REVOKED": "the registration token has been revoked",
}

func fieldDescription(err error) string {
	fields := rpcerr.Fields(err)
	if len(fields) == 0 {
		return "the request is malformed"
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Description
	}
	return strings.Join(parts, "; ")
}
