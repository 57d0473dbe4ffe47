package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// downgrade is "Cancel Subscription" (PROTOCOL.md section 6, POST
// WS/client/downgrade): the paid subscription or trial ends now and the
// workspace's next sync returns the free plan's license. The stock client
// sends no body; a body, when there is one, must be a JSON object naming
// no other workspace.
func (a *API) downgrade(w http.ResponseWriter, r *http.Request) {
	claims := claimsFrom(r.Context())
	body, perr := readBody(r)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var data registrationData
		if perr := decodeJSONBody(body, &data); perr != nil {
			writeError(w, *perr)
			return
		}
		if data.WorkspaceID != "" && data.WorkspaceID != claims.WorkspaceID() {
			writeError(w, badRequest("invalid_request", "workspaceId: differs from the workspace of the access token"))
			return
		}
	}
	// Each press of the button is its own request: a retry after a lost
	// answer finds nothing left to cancel and says so.
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	resp, err := a.up.Subscriptions.CancelSubscription(r.Context(), &signerv1.CancelSubscriptionRequest{
		IdempotencyKey: "workspace-downgrade-" + hex.EncodeToString(key), WorkspaceId: claims.WorkspaceID(),
	})
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	a.awaitLicense(r, claims.WorkspaceID(), resp.GetLicense().GetSequence())
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// awaitLicense waits, within the request's time, until the workspace's sync
// view holds the license of sequence seq: the stock client syncs right after
// cancelling and must get the free plan's license then. The license travels
// to the view as an event; should it take longer, the cancellation stands
// and a later sync returns it.
func (a *API) awaitLicense(r *http.Request, workspaceID string, seq int64) {
	if seq <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		v, err := a.up.Sync.GetSyncView(ctx, &syncv1.GetSyncViewRequest{WorkspaceId: workspaceID})
		if err == nil && v.GetView().GetLicenseSequence() >= seq {
			return
		}
		select {
		case <-ctx.Done():
			a.log.WarnContext(r.Context(), "the cancellation's license has not reached the sync view yet", "workspace_id", workspaceID, "sequence", seq)
			return
		case <-time.After(delay):
		}
	}
}
