package web

import (
	"errors"
	"net/http"
	"strings"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/services/console/internal/account"
)

func formOf(r *http.Request, names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = r.PostFormValue(n)
	}
	return m
}

func (s *Server) signUpPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signup", view{Title: "Create an account"})
}

// signUp answers every valid sign-up with the same page, whether or not
// the address has an account; the mail tells its owner which case it was.
func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	su, err := account.ParseSignUp(r.PostFormValue("email"), r.PostFormValue("password"), r.PostFormValue("confirm"), r.PostFormValue("organization"))
	var fe account.FieldErrors
	if errors.As(err, &fe) {
		s.render(w, r, http.StatusBadRequest, "signup", view{Title: "Create an account", Fields: fe,
			Error: "Please correct the fields marked below.", Form: formOf(r, "email", "organization")})
		return
	}
	if err := s.st.SignUp(r.Context(), su, account.HashPassword(su.Password)); err != nil {
		s.log.ErrorContext(r.Context(), "sign-up", "error", err)
		s.fail(w, r, http.StatusInternalServerError, "Sign-up failed", "Something went wrong on our side. Try again in a moment.")
		return
	}
	s.queued()
	s.render(w, r, http.StatusOK, "message", view{Title: "Check your e-mail",
		Notice: "We sent a message to " + su.Email + ". Open the link in it to verify your address and finish signing up."})
}

// verify uses the e-mailed link: the registry gets the organization as a
// customer (its contact e-mail is the address, so workspaces that register
// by e-mail confirmation from the same address join it), then the console
// records the organization and its owner.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	a, err := s.st.CheckToken(r.Context(), token, account.PurposeVerify)
	if err != nil {
		s.tokenFailure(w, r, err, "/signup", "sign up again")
		return
	}
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	cus, err := s.api.Registry.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: a.OrgName, ContactEmail: a.Email})
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.fail(w, r, code, "Verification failed", msg)
		return
	}
	if _, err := s.st.Verify(r.Context(), token, cus.GetCustomer().GetId()); err != nil {
		// A second click racing the first: its customer stays unused.
		s.tokenFailure(w, r, err, "/signup", "sign up again")
		return
	}
	s.render(w, r, http.StatusOK, "message", view{Title: "Address verified",
		Notice: "Your address is verified and your organization " + a.OrgName + " is ready. Sign in to continue.",
		Data:   map[string]string{"Link": "/signin", "LinkText": "Sign in"}})
}

// tokenFailure explains a bad e-mailed link.
func (s *Server) tokenFailure(w http.ResponseWriter, r *http.Request, err error, again, againText string) {
	var msg string
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, account.ErrTokenUsed):
		msg = "This link was already used. If that was you, sign in."
		status = http.StatusConflict
	case errors.Is(err, account.ErrTokenExpired):
		msg = "This link has expired. You can " + againText + " to get a new one."
		status = http.StatusGone
	case errors.Is(err, account.ErrNotFound):
		msg = "This link is not valid. Check that you opened the whole link from the e-mail, or " + againText + "."
	default:
		s.log.ErrorContext(r.Context(), "e-mailed link", "error", err)
		msg = "Something went wrong on our side. Try the link again in a moment."
		status = http.StatusInternalServerError
	}
	s.render(w, r, status, "message", view{Title: "Link not accepted", Error: msg,
		Data: map[string]string{"Link": again, "LinkText": strings.ToUpper(againText[:1]) + againText[1:]}})
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Form: map[string]string{"next": safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return "/workspaces"
	}
	return n
}

// signIn checks the password after the rate limits, so guessing is slow
// per account and per client address whatever the addresses tried; an
// unknown address, a wrong password and an unverified account read alike.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	form := formOf(r, "email", "next")
	form["next"] = safeNext(form["next"])
	again := func(status int, msg string) {
		s.render(w, r, status, "signin", view{Title: "Sign in", Error: msg, Form: form})
	}
	email, err := account.NormalizeEmail(form["email"])
	if err != nil {
		again(http.StatusBadRequest, err.Error())
		return
	}
	keys := []string{"account:" + email, "address:" + s.clientAddress(r)}
	counts, err := s.st.SignInFailures(r.Context(), s.opts.SignInWindow, keys...)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in limits", "error", err)
		again(http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	if counts[0] >= s.opts.SignInPerAccount || counts[1] >= s.opts.SignInPerAddress {
		w.Header().Set("Retry-After", "900")
		again(http.StatusTooManyRequests, "Too many failed sign-in attempts. Wait 15 minutes and try again, or reset your password.")
		return
	}
	a, err := s.st.AccountByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		s.log.ErrorContext(r.Context(), "sign-in", "error", err)
		again(http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	if !account.VerifyPassword(a.PasswordHash, r.PostFormValue("password")) || !a.Verified {
		if err := s.st.RecordSignInFailure(r.Context(), s.opts.SignInWindow, keys...); err != nil {
			s.log.ErrorContext(r.Context(), "sign-in limits", "error", err)
		}
		again(http.StatusUnauthorized, "Wrong e-mail address or password (or the address is not verified yet: open the link we e-mailed you).")
		return
	}
	_ = s.st.ClearSignInFailures(r.Context(), keys[0])
	secret, err := s.st.CreateSession(r.Context(), a.ID, s.opts.SessionTTL)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in session", "error", err)
		again(http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName("session"), Value: secret, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.opts.SessionTTL.Seconds())})
	http.Redirect(w, r, form["next"], http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookieName("session")); err == nil {
		if err := s.st.DeleteSession(r.Context(), c.Value); err != nil {
			s.log.ErrorContext(r.Context(), "sign-out", "error", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName("session"), Value: "", Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "reset", view{Title: "Reset your password"})
}

// resetRequest says the same whether or not the address has an account.
func (s *Server) resetRequest(w http.ResponseWriter, r *http.Request) {
	email, err := account.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "reset", view{Title: "Reset your password", Error: err.Error(), Form: formOf(r, "email")})
		return
	}
	if err := s.st.RequestReset(r.Context(), email); err != nil {
		s.log.ErrorContext(r.Context(), "reset request", "error", err)
		s.fail(w, r, http.StatusInternalServerError, "Reset failed", "Something went wrong on our side. Try again in a moment.")
		return
	}
	s.queued()
	s.render(w, r, http.StatusOK, "message", view{Title: "Check your e-mail",
		Notice: "If " + email + " has an account, we sent it a link to choose a new password. The link works for an hour."})
}

func (s *Server) resetConfirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if _, err := s.st.CheckToken(r.Context(), token, account.PurposeReset); err != nil {
		s.tokenFailure(w, r, err, "/reset", "ask for a new link")
		return
	}
	s.render(w, r, http.StatusOK, "resetconfirm", view{Title: "Choose a new password", Form: map[string]string{"token": token}})
}

func (s *Server) resetConfirm(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	p := r.PostFormValue("password")
	var fe account.FieldErrors
	if err := account.CheckPassword(p); err != nil {
		fe = append(fe, account.FieldError{Field: "password", Message: err.Error()})
	} else if p != r.PostFormValue("confirm") {
		fe = append(fe, account.FieldError{Field: "confirm", Message: "The two passwords differ."})
	}
	if len(fe) > 0 {
		s.render(w, r, http.StatusBadRequest, "resetconfirm", view{Title: "Choose a new password", Fields: fe,
			Error: "Please correct the fields marked below.", Form: map[string]string{"token": token}})
		return
	}
	if _, err := s.st.Reset(r.Context(), token, account.HashPassword(p)); err != nil {
		s.tokenFailure(w, r, err, "/reset", "ask for a new link")
		return
	}
	s.render(w, r, http.StatusOK, "message", view{Title: "Password changed",
		Notice: "Your new password is set, and every other session of your account is signed out.",
		Data:   map[string]string{"Link": "/signin", "LinkText": "Sign in"}})
}
