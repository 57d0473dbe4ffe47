package web

import (
	"errors"
	"net/http"

	"github.com/cloudlicense/authority/services/console/internal/account"
)

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request, ses session) {
	s.renderMembers(w, r, ses, http.StatusOK, view{})
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, ses session, status int, v view) {
	ms, err := s.st.Members(r.Context(), ses.Org.ID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "members", "error", err)
		s.fail(w, r, http.StatusInternalServerError, "Members", "Something went wrong on our side. Try again in a moment.")
		return
	}
	v.Title, v.Data = "Members of "+ses.Org.Name, ms
	s.render(w, r, status, "members", v)
}

// addMember lets an owner add a person by e-mail address; the person is
// invited to choose a password, or told, when the address has an account.
func (s *Server) addMember(w http.ResponseWriter, r *http.Request, ses session) {
	if ses.Org.Role != "owner" {
		s.renderMembers(w, r, ses, http.StatusForbidden, view{Error: "Only an owner of the organization can add members."})
		return
	}
	email, err := account.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		s.renderMembers(w, r, ses, http.StatusBadRequest, view{Error: err.Error(), Form: formOf(r, "email"),
			Fields: account.FieldErrors{{Field: "email", Message: err.Error()}}})
		return
	}
	switch err := s.st.AddMember(r.Context(), ses.Org, email); {
	case errors.Is(err, account.ErrExists):
		s.renderMembers(w, r, ses, http.StatusConflict, view{Error: email + " is already a member.", Form: formOf(r, "email")})
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "add member", "error", err)
		s.renderMembers(w, r, ses, http.StatusInternalServerError, view{Error: "Something went wrong on our side. Try again in a moment."})
		return
	}
	s.queued()
	s.renderMembers(w, r, ses, http.StatusOK, view{Notice: email + " was added and told by e-mail."})
}
