package httpapi

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
)

// confirmPath is the page a registration intent's e-mail links to (with
// ?code=) and the intent's verification_url.
const confirmPath = "/register/confirm"

// The confirmation page is the contact's: a small server-rendered page
// with Confirm and Reject buttons. Its POST carries the one-time code,
// which only the e-mail's reader knows, so another site cannot forge a
// decision (no cookie or session is involved). The page may not be framed,
// loads nothing, and sends no Referer that would leak the code.
var confirmPage = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}
dt{font-weight:600}dd{margin:0 0 .6em}button{font-size:1em;padding:.5em 1.2em;margin-right:.6em}
.code{font-family:monospace;font-size:1.3em;letter-spacing:.1em}</style></head>
<body><h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{with .Intent}}<dl>
<dt>Workspace</dt><dd>{{if .SiteName}}{{.SiteName}}{{else}}(no name){{end}}</dd>
<dt>Address</dt><dd>{{.Address}}</dd>
<dt>Contact</dt><dd>{{.ContactEmail}}</dd>
{{if .AccountName}}<dt>Organization</dt><dd>{{.AccountName}}</dd>{{end}}
<dt>Security code</dt><dd class="code">{{.UserCode}}</dd>
</dl>{{end}}
{{if .Code}}<p>Check that the workspace's setup wizard shows the same security code.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="code" value="{{.Code}}">
<button type="submit" name="decision" value="confirm">Confirm</button>
<button type="submit" name="decision" value="reject">Reject</button>
</form>{{end}}
</body></html>
`))

type confirmView struct {
	Title, Message, Code, Action string
	Intent                       *registryv1.IntentView
}

func renderConfirm(w http.ResponseWriter, status int, v confirmView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = confirmPage.Execute(w, v)
}

// confirmError renders the page for an error of the registry.
func (a *API) confirmError(w http.ResponseWriter, r *http.Request, err error) {
	switch rpcerr.Reason(err) {
	case "INTENT_NOT_FOUND", "INVALID_REQUEST":
		renderConfirm(w, http.StatusNotFound, confirmView{Title: "Link not valid", Message: "This confirmation link is not valid. Use the link from the most recent e-mail."})
	case "INTENT_EXPIRED":
		renderConfirm(w, http.StatusGone, confirmView{Title: "Registration expired", Message: "This registration request has expired. Start the registration again from the workspace."})
	case "INTENT_REJECTED":
		renderConfirm(w, http.StatusConflict, confirmView{Title: "Registration rejected", Message: "This registration request was already rejected."})
	case "INTENT_CONFIRMED":
		renderConfirm(w, http.StatusConflict, confirmView{Title: "Registration confirmed", Message: "This registration request was already confirmed; it can no longer be rejected."})
	default:
		p := fromRPC(a.log, r, err)
		renderConfirm(w, p.Status, confirmView{Title: "Try again later", Message: "The request could not be completed: " + p.Description + "."})
	}
}

// confirmShow is GET /register/confirm?code=...: the request and its buttons.
func (a *API) confirmShow(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code == "" {
		renderConfirm(w, http.StatusOK, confirmView{Title: "Confirm a workspace registration",
			Message: "Open the link in the confirmation e-mail sent to the workspace's contact address."})
		return
	}
	resp, err := a.up.Registry.GetIntentByCode(r.Context(), &registryv1.GetIntentByCodeRequest{Code: code})
	if err != nil {
		a.confirmError(w, r, err)
		return
	}
	in := resp.GetIntent()
	v := confirmView{Title: "Confirm the registration of a workspace", Intent: in}
	switch in.GetState() {
	case "pending":
		v.Code, v.Action = code, confirmPath
		v.Message = "A self-managed workspace asks to register with the cloud with you as its contact."
	case "confirmed":
		v.Title, v.Message = "Registration confirmed", "This workspace is registered. Its setup wizard finishes on its own."
	case "rejected":
		v.Title, v.Message = "Registration rejected", "You rejected this registration request."
	default:
		v.Title, v.Message = "Registration expired", "This registration request has expired. Start the registration again from the workspace."
	}
	renderConfirm(w, http.StatusOK, v)
}

// confirmDecide is POST /register/confirm (form: code, decision).
func (a *API) confirmDecide(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		status := http.StatusBadRequest
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		renderConfirm(w, status, confirmView{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		renderConfirm(w, http.StatusBadRequest, confirmView{Title: "Bad request", Message: "The form carries no confirmation code; use the link from the e-mail."})
		return
	}
	switch d := r.PostForm.Get("decision"); d {
	case "confirm":
		resp, err := a.up.Registry.ConfirmIntent(r.Context(), &registryv1.ConfirmIntentRequest{Code: code})
		if err != nil {
			a.confirmError(w, r, err)
			return
		}
		renderConfirm(w, http.StatusOK, confirmView{Title: "Registration confirmed", Intent: resp.GetIntent(),
			Message: "Thank you. The workspace is registered; its setup wizard finishes on its own within a few seconds."})
	case "reject":
		resp, err := a.up.Registry.RejectIntent(r.Context(), &registryv1.RejectIntentRequest{Code: code})
		if err != nil {
			a.confirmError(w, r, err)
			return
		}
		renderConfirm(w, http.StatusOK, confirmView{Title: "Registration rejected", Intent: resp.GetIntent(),
			Message: "The registration was rejected; the workspace is told so."})
	default:
		renderConfirm(w, http.StatusBadRequest, confirmView{Title: "Bad request", Message: fmt.Sprintf("Unknown decision %s; use Confirm or Reject.", quote(d))})
	}
}
