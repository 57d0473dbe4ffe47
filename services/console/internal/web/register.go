package web

import (
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

type registerView struct {
	CloudURL  string
	Token     string
	ExpiresAt string
	CloudBlob string
	Workspace *registryv1.Workspace
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request, _ session) {
	s.render(w, r, http.StatusOK, "register", view{Title: "Register self-managed", Data: registerView{CloudURL: s.opts.CloudURL}})
}

// registerOnline makes a single-use registration token of the member's
// organization, valid for a week, and shows it once.
func (s *Server) registerOnline(w http.ResponseWriter, r *http.Request, ses session) {
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	resp, err := s.api.Tokens.CreateRegistrationToken(ctx, &tokensv1.CreateRegistrationTokenRequest{CustomerId: ses.Org.CustomerID, MaxUses: 1, TtlSeconds: 7 * 24 * 3600})
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.render(w, r, code, "register", view{Title: "Register self-managed", Error: msg, Data: registerView{CloudURL: s.opts.CloudURL}})
		return
	}
	s.render(w, r, http.StatusOK, "register", view{Title: "Register self-managed", Data: registerView{
		CloudURL: s.opts.CloudURL, Token: resp.GetSecret(), ExpiresAt: resp.GetToken().GetExpiresAt().AsTime().UTC().Format("2006-01-02 15:04 UTC")}})
}

// registerOffline registers an air-gapped workspace from its pasted client
// key and returns the cloud blob to paste back.
func (s *Server) registerOffline(w http.ResponseWriter, r *http.Request, ses session) {
	key := strings.TrimSpace(r.PostFormValue("client_key"))
	form := map[string]string{"client_key": key}
	if key == "" {
		s.render(w, r, http.StatusBadRequest, "register", view{Title: "Register self-managed", Form: form,
			Error: "Paste the workspace's client key (its offline registration screen shows it).", Data: registerView{CloudURL: s.opts.CloudURL}})
		return
	}
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	resp, err := s.api.Registry.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: key, CustomerId: ses.Org.CustomerID})
	if err != nil {
		code, msg := s.upstreamError(r, err)
		if rpcerr.Code(err) == codes.InvalidArgument {
			msg = "The client key was not accepted: " + msg
		}
		s.render(w, r, code, "register", view{Title: "Register self-managed", Error: msg, Form: form, Data: registerView{CloudURL: s.opts.CloudURL}})
		return
	}
	s.render(w, r, http.StatusOK, "register", view{Title: "Register self-managed", Data: registerView{
		CloudURL: s.opts.CloudURL, CloudBlob: resp.GetCloudBlob(), Workspace: resp.GetWorkspace()}})
}
