package web

import (
	"net/http"
	"strings"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
)

// The page a registration intent's e-mail links to (PROTOCOL.md 2a), with
// Confirm and Reject. It needs no session: the one-time code in the link
// is the proof, as on the gateway's page of the same path, which keeps
// answering the links of mails sent before the console owned it.

type intentView struct {
	Intent *registryv1.IntentView
	Code   string
}

func (s *Server) intentError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var title, msg string
	switch rpcerr.Reason(err) {
	case "INTENT_NOT_FOUND", "INVALID_REQUEST":
		status, title, msg = http.StatusNotFound, "Link not valid", "This confirmation link is not valid. Use the link from the most recent e-mail."
	case "INTENT_EXPIRED":
		status, title, msg = http.StatusGone, "Registration expired", "This registration request has expired. Start the registration again from the workspace."
	case "INTENT_REJECTED":
		status, title, msg = http.StatusConflict, "Registration rejected", "This registration request was already rejected."
	case "INTENT_CONFIRMED":
		status, title, msg = http.StatusConflict, "Registration confirmed", "This registration request was already confirmed; it can no longer be rejected."
	default:
		status, msg = s.upstreamError(r, err)
		title = "Try again later"
	}
	s.render(w, r, status, "message", view{Title: title, Error: msg})
}

func (s *Server) intentPage(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code == "" {
		s.render(w, r, http.StatusOK, "message", view{Title: "Confirm a workspace registration",
			Notice: "Open the link in the confirmation e-mail sent to the workspace's contact address."})
		return
	}
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	resp, err := s.api.Registry.GetIntentByCode(ctx, &registryv1.GetIntentByCodeRequest{Code: code})
	if err != nil {
		s.intentError(w, r, err)
		return
	}
	v := view{Title: "Confirm the registration of a workspace", Data: intentView{Intent: resp.GetIntent()}}
	switch resp.GetIntent().GetState() {
	case "pending":
		v.Data = intentView{Intent: resp.GetIntent(), Code: code}
		v.Notice = "A self-managed workspace asks to register with the cloud with you as its contact. Check that its setup wizard shows the same security code."
	case "confirmed":
		v.Title, v.Notice = "Registration confirmed", "This workspace is registered. Its setup wizard finishes on its own."
	case "rejected":
		v.Title, v.Notice = "Registration rejected", "You rejected this registration request."
	default:
		v.Title, v.Error = "Registration expired", "This registration request has expired. Start the registration again from the workspace."
	}
	s.render(w, r, http.StatusOK, "intent", v)
}

func (s *Server) intentDecide(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		s.render(w, r, http.StatusBadRequest, "message", view{Title: "Link not valid", Error: "The form carries no confirmation code; use the link from the e-mail."})
		return
	}
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	switch r.PostFormValue("decision") {
	case "confirm":
		resp, err := s.api.Registry.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: code})
		if err != nil {
			s.intentError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "intent", view{Title: "Registration confirmed", Data: intentView{Intent: resp.GetIntent()},
			Notice: "Thank you. The workspace is registered; its setup wizard finishes on its own within a few seconds. Sign in to see it among your workspaces."})
	case "reject":
		resp, err := s.api.Registry.RejectIntent(ctx, &registryv1.RejectIntentRequest{Code: code})
		if err != nil {
			s.intentError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "intent", view{Title: "Registration rejected", Data: intentView{Intent: resp.GetIntent()},
			Notice: "The registration was rejected; the workspace is told so."})
	default:
		s.render(w, r, http.StatusBadRequest, "message", view{Title: "Not done", Error: "Choose Confirm or Reject."})
	}
}
