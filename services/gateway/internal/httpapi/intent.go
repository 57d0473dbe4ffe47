package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// intentData is the registration data (PROTOCOL.md 1) as the registration
// endpoints read it; unknown fields are ignored and the raw body kept.
type intentData struct {
	UniqueID     string `json:"uniqueId"`
	WorkspaceID  string `json:"workspaceId"`
	Address      string `json:"address"`
	SiteName     string `json:"siteName"`
	ContactName  string `json:"contactName"`
	ContactEmail string `json:"contactEmail"`
	AccountName  string `json:"accountName"`
	Seats        *int64 `json:"seats"`
	MAC          *int64 `json:"MAC"`
	Version      string `json:"version"`
}

// missingRequired names the required registration fields that are empty.
func (d intentData) missingRequired() string {
	var missing []string
	for _, f := range []struct{ name, v string }{{"uniqueId", d.UniqueID}, {"address", d.Address}, {"version", d.Version}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name+": required")
		}
	}
	if d.Seats != nil && *d.Seats < 0 {
		missing = append(missing, "seats: must be >= 0")
	}
	if d.MAC != nil && *d.MAC < 0 {
		missing = append(missing, "MAC: must be >= 0")
	}
	return strings.Join(missing, "; ")
}

func (d intentData) pb(raw []byte) *registryv1.RegistrationData {
	pb := &registryv1.RegistrationData{
		UniqueId: d.UniqueID, WorkspaceId: d.WorkspaceID, Address: d.Address, SiteName: d.SiteName, ContactName: d.ContactName,
		ContactEmail: d.ContactEmail, AccountName: d.AccountName, Version: d.Version, RawJson: string(raw),
	}
	if d.Seats != nil {
		pb.Seats = *d.Seats
	}
	return pb
}

// readRegistrationData decodes and checks the registration data body.
func readRegistrationData(w http.ResponseWriter, r *http.Request) (intentData, []byte, bool) {
	var d intentData
	raw, perr := decodeJSON(r, &d)
	if perr != nil {
		writeError(w, *perr)
		return d, nil, false
	}
	if missing := d.missingRequired(); missing != "" {
		writeError(w, badRequest("invalid_registration_data", missing))
		return d, nil, false
	}
	return d, raw, true
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(w, badRequest("invalid_request", name+": must be true or false, got "+quote(v)))
		return false, false
	}
	return b, true
}

// preIntent is PROTOCOL.md 2a's first step: a 2xx tells the setup wizard
// the cloud is reachable. The data is checked but nothing is stored.
func (a *API) preIntent(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := readRegistrationData(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// verificationURL is the page an intent's e-mail links to: the console's
// when the deployment has one, else the gateway's own (which keeps
// answering links mailed before the console was set).
func (a *API) verificationURL(r *http.Request) string {
	if a.opts.ConsoleURL != "" {
		return strings.TrimRight(a.opts.ConsoleURL, "/") + confirmPath
	}
	return a.baseURL(r) + confirmPath
}

// createIntent asks the registry for an intent (a new one, or with resend
// the pending one of the same workspace and contact).
func (a *API) createIntent(w http.ResponseWriter, r *http.Request, resendParam string) (*registryv1.CreateIntentResponse, bool) {
	resend, ok := boolQuery(w, r, resendParam)
	if !ok {
		return nil, false
	}
	d, raw, ok := readRegistrationData(w, r)
	if !ok {
		return nil, false
	}
	resp, err := a.up.Registry.CreateIntent(r.Context(), &registryv1.CreateIntentRequest{
		Data: d.pb(raw), Resend: resend, VerificationUrl: a.verificationURL(r),
	})
	if err != nil {
		if rpcerr.Reason(err) == "TOO_MANY_MAILS" {
			w.Header().Set("Retry-After", "300")
		}
		writeError(w, fromRPC(a.log, r, err))
		return nil, false
	}
	return resp, true
}

// intent is POST /api/v2/register/workspace/intent?resent=<bool>.
func (a *API) intent(w http.ResponseWriter, r *http.Request) {
	resp, ok := a.createIntent(w, r, "resent")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":      resp.GetDeviceCode(),
		"user_code":        resp.GetUserCode(),
		"verification_url": resp.GetVerificationUrl(),
		"interval":         resp.GetInterval(),
		"expires_in":       resp.GetExpiresIn(),
	})
}

// legacyRegister is PROTOCOL.md 2c: POST /api/v2/register/workspace?resend=<bool>;
// the workspace exists pending and completes through the same confirmation.
func (a *API) legacyRegister(w http.ResponseWriter, r *http.Request) {
	resp, ok := a.createIntent(w, r, "resend")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": resp.GetWorkspaceId()})
}

// licenseWait bounds how long a confirmed poll waits for the first license
// (the signer issues it on workspace.registered); past it the poll answers
// authorization_pending and the workspace polls again.
const licenseWait = 3 * time.Second

// poll is GET /api/v2/register/workspace/poll?token=<device_code>.
func (a *API) poll(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.URL.Query().Get("token"))
	if token == "" {
		writeError(w, badRequest("invalid_request", "token: required (the device_code of the intent)"))
		return
	}
	resp, err := a.up.Registry.PollIntent(r.Context(), &registryv1.PollIntentRequest{DeviceCode: token})
	if rpcerr.Reason(err) == "INTENT_NOT_FOUND" {
		writeError(w, badRequest("expired_token", "the device code is unknown; start the registration again"))
		return
	}
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	switch resp.GetStatus() {
	case registryv1.IntentStatus_INTENT_STATUS_PENDING:
		writeJSON(w, http.StatusOK, map[string]any{"status": "authorization_pending"})
		return
	case registryv1.IntentStatus_INTENT_STATUS_SLOW_DOWN:
		writeError(w, badRequest("slow_down", "polled faster than the interval; wait longer between polls"))
		return
	case registryv1.IntentStatus_INTENT_STATUS_EXPIRED:
		writeError(w, badRequest("expired_token", "the registration expired, or its credentials were already received and used; start again"))
		return
	case registryv1.IntentStatus_INTENT_STATUS_REJECTED:
		writeError(w, badRequest("access_denied", "the contact rejected the registration"))
		return
	case registryv1.IntentStatus_INTENT_STATUS_CONFIRMED:
	default:
		a.log.ErrorContext(r.Context(), "unknown intent status", "status", resp.GetStatus().String())
		writeError(w, protocolError{http.StatusInternalServerError, "server_error", "internal error"})
		return
	}
	ws := resp.GetWorkspace()
	lic, err := a.firstLicense(r.Context(), ws.GetId(), resp.GetAddress())
	if err != nil {
		// Not issued yet: the workspace keeps polling, and the credentials
		// stay held for it.
		a.log.InfoContext(r.Context(), "confirmed intent waits for its first license", "workspace_id", ws.GetId(), "error", err)
		writeJSON(w, http.StatusOK, map[string]any{"status": "authorization_pending"})
		return
	}
	publicKey, err := a.up.LicensePublicKeyPEM(r.Context(), "")
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"successful": true,
		"payload": map[string]any{
			"workspaceId":              ws.GetId(),
			"client_name":              ws.GetClientName(),
			"client_id":                resp.GetClientId(),
			"client_secret":            resp.GetClientSecret(),
			"client_secret_expires_at": 0,
			"redirect_uris":            []string{},
			"publicKey":                publicKey,
			"registration_client_uri":  a.workspaceURL(r, ws.GetId()),
			"licenseData":              pollLicenseData(lic),
		},
	})
}

// firstLicense returns the workspace's license bound to its reported
// address, retrying briefly while the signer has not heard of it yet.
func (a *API) firstLicense(ctx context.Context, workspaceID, address string) (*signerv1.License, error) {
	ctx, cancel := context.WithTimeout(ctx, licenseWait)
	defer cancel()
	for {
		resp, err := a.up.Signer.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: workspaceID, Address: address})
		if err == nil {
			return resp.GetLicense(), nil
		}
		if c := rpcerr.Code(err); c != codes.NotFound && c != codes.Unavailable {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// pollLicenseData is the licenseData of a confirmed poll, in the shape of
// the legacy license fetch (PROTOCOL.md 4).
func pollLicenseData(l *signerv1.License) map[string]any {
	out := map[string]any{
		"version":   3,
		"address":   l.GetAddress(),
		"license":   l.GetToken(),
		"updatedAt": license.FormatTime(l.GetIssuedAt().AsTime()),
		"modules":   strings.Join(l.GetModules(), ","),
		"expireAt":  nil,
	}
	if l.GetExpiresAt() != nil {
		out["expireAt"] = license.FormatTime(l.GetExpiresAt().AsTime())
	}
	return out
}
