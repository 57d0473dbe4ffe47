// Package web serves the console's pages: server-rendered HTML from
// embedded templates, forms that work without JavaScript, every action a
// call to the internal gRPC APIs (the console holds no licensing rule).
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/services/console/internal/account"
	"github.com/cloudlicense/authority/services/console/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the pages.
type Options struct {
	// PublicURL is the console's base URL (links, the Origin forms must
	// come from, Secure cookies when https).
	PublicURL string
	// CloudURL is the gateway's base URL, shown to workspaces registering.
	CloudURL         string
	SessionTTL       time.Duration
	SignInWindow     time.Duration
	SignInPerAccount int
	SignInPerAddress int
	// ClientIPHeader is the header a trusted proxy sets to the client's
	// address; empty uses the connection's.
	ClientIPHeader string
	UpstreamWait   time.Duration
	// MailQueued is signalled (without blocking) when a mail was queued.
	MailQueued chan<- struct{}
}

// Server is the console's HTTP handler.
type Server struct {
	st     *store.Store
	api    *client.Client
	log    *slog.Logger
	opts   Options
	pages  map[string]*template.Template
	secure bool
	origin string
}

// New returns the console's pages over st and the internal APIs.
func New(st *store.Store, api *client.Client, log *slog.Logger, opts Options) (*Server, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("PUBLIC_URL %q: want an absolute URL", opts.PublicURL)
	}
	if opts.UpstreamWait <= 0 {
		opts.UpstreamWait = 10 * time.Second
	}
	s := &Server{st: st, api: api, log: log, opts: opts, pages: map[string]*template.Template{},
		secure: u.Scheme == "https", origin: u.Scheme + "://" + u.Host}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		s.pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return s, nil
}

// Handler routes every page.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /{$}", s.home)

	mux.HandleFunc("GET /signup", s.signUpPage)
	mux.HandleFunc("POST /signup", s.signUp)
	mux.HandleFunc("GET /verify", s.verify)
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.HandleFunc("GET /reset", s.resetPage)
	mux.HandleFunc("POST /reset", s.resetRequest)
	mux.HandleFunc("GET /reset/confirm", s.resetConfirmPage)
	mux.HandleFunc("POST /reset/confirm", s.resetConfirm)

	mux.HandleFunc("GET /register/confirm", s.intentPage)
	mux.HandleFunc("POST /register/confirm", s.intentDecide)

	mux.HandleFunc("GET /workspaces", s.member(s.workspaces))
	mux.HandleFunc("GET /workspaces/{id}", s.member(s.workspace))
	mux.HandleFunc("POST /workspaces/{id}/trial", s.member(s.startTrial))
	mux.HandleFunc("POST /workspaces/{id}/cancel", s.member(s.cancel))
	mux.HandleFunc("POST /workspaces/{id}/deregister", s.member(s.deregister))
	mux.HandleFunc("POST /workspaces/{id}/offline-license", s.member(s.offlineLicense))
	mux.HandleFunc("GET /register", s.member(s.registerPage))
	mux.HandleFunc("POST /register/online", s.member(s.registerOnline))
	mux.HandleFunc("POST /register/offline", s.member(s.registerOffline))
	mux.HandleFunc("GET /members", s.member(s.membersPage))
	mux.HandleFunc("POST /members", s.member(s.addMember))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	return s.guard(mux)
}

// guard wraps every request: security headers, a bounded body, CSRF
// checks on every POST, and no stack trace ever reaching the browser.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// No Referer leaves the site (e-mailed links carry secrets), but
		// same-origin requests keep theirs: under no-referrer Chromium
		// sends "Origin: null" with forms, which the origin check refuses.
		h.Set("Referrer-Policy", "same-origin")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		defer func() {
			if v := recover(); v != nil {
				s.log.ErrorContext(r.Context(), "panic serving page", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.fail(w, r, http.StatusInternalServerError, "Something went wrong", "Something went wrong on our side. Try again in a moment.")
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
		token := s.csrfToken(w, r)
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, http.StatusBadRequest, "Form not accepted", "The form could not be read (is it larger than 256 KiB?). Go back and try again.")
				return
			}
			if !s.sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(token)) != 1 {
				s.fail(w, r, http.StatusForbidden, "Form expired", "This form has expired or came from another site. Go back, reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, token)))
	})
}

type csrfKey struct{}

// csrfToken returns the browser's CSRF token, setting a new one when it
// has none. Forms carry it in a hidden field; the cookie is HTTP-only and
// same-site strict, so another site can neither read it nor make the
// browser send it, and a forged form cannot match it.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	name := s.cookieName("csrf")
	if c, err := r.Cookie(name); err == nil && strings.HasPrefix(c.Value, "csrf_") && len(c.Value) > 40 {
		return c.Value
	}
	v := account.NewSecret("csrf_")
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	return v
}

// sameOrigin refuses a POST whose Origin (sent by every current browser)
// names another site.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == s.origin
}

// cookieName is __Host- prefixed over https: such a cookie cannot be set
// by a sibling domain or over plain http.
func (s *Server) cookieName(n string) string {
	if s.secure {
		return "__Host-console_" + n
	}
	return "console_" + n
}

// session is the signed-in member of a request.
type session struct {
	Account account.Account
	Org     account.Organization
}

type handler func(w http.ResponseWriter, r *http.Request, ses session)

// member requires a signed-in member of an organization.
func (s *Server) member(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ses, ok := s.currentSession(r)
		if !ok {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, ses)
	}
}

func (s *Server) currentSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(s.cookieName("session"))
	if err != nil || c.Value == "" {
		return session{}, false
	}
	a, org, err := s.st.Session(r.Context(), c.Value)
	if err != nil || org == nil {
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			s.log.ErrorContext(r.Context(), "reading session", "error", err)
		}
		return session{}, false
	}
	return session{Account: a, Org: *org}, true
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.currentSession(r); ok {
		http.Redirect(w, r, "/workspaces", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// view is what every page template gets.
type view struct {
	Title   string
	CSRF    string
	Session *session
	Notice  string
	Error   string
	Fields  account.FieldErrors
	Form    map[string]string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.CSRF, _ = r.Context().Value(csrfKey{}).(string)
	if v.Session == nil {
		if ses, ok := s.currentSession(r); ok {
			v.Session = &ses
		}
	}
	t := s.pages[page]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		s.log.ErrorContext(r.Context(), "rendering page", "page", page, "error", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders a page that says what went wrong and what to do.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, "message", view{Title: title, Error: msg})
}

// upstreamCtx bounds a call to the internal APIs.
func (s *Server) upstreamCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.UpstreamWait)
}

// reasons are the refusals of the internal APIs a customer can meet, said
// for people.
var reasons = map[string]string{
	"NO_PAID_SUBSCRIPTION":          "This workspace has no paid subscription or trial to cancel.",
	"CANCELLATION_PENDING":          "This subscription is already set to end at the close of its period.",
	"NOT_TRIALING":                  "This workspace is not on a trial.",
	"TRIAL_NOT_ALLOWED":             "A trial can only start from the free plan.",
	"TRIAL_ALREADY_USED":            "This workspace already had a trial of that plan.",
	"SUBSCRIPTION_SUSPENDED":        "This workspace's subscription is suspended; contact support.",
	"SUPPORT_PLAN_NOT_SELF_SERVICE": "That plan is sold by our sales team; contact us.",
	"IDEMPOTENCY_KEY_REUSED":        "This form was already sent with other values. Reload the page and try again.",
}

// upstreamError says what a failed internal call means for the person,
// with the HTTP status of the page. Unknown failures are logged with the
// trace id, which the page shows so support can find them.
func (s *Server) upstreamError(r *http.Request, err error) (int, string) {
	switch rpcerr.Code(err) {
	case codes.NotFound:
		if rpcerr.Reason(err) == "PLAN_NOT_FOUND" {
			return http.StatusBadRequest, "That plan does not exist."
		}
		return http.StatusNotFound, "There is no such workspace in your organization."
	case codes.InvalidArgument:
		var parts []string
		for _, f := range rpcerr.Fields(err) {
			parts = append(parts, f.Description)
		}
		if len(parts) == 0 {
			parts = append(parts, statusMessage(err))
		}
		return http.StatusBadRequest, strings.Join(parts, " ")
	case codes.FailedPrecondition, codes.AlreadyExists:
		if m, ok := reasons[rpcerr.Reason(err)]; ok {
			return http.StatusConflict, m
		}
		return http.StatusConflict, statusMessage(err)
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return http.StatusServiceUnavailable, "The service is busy or unreachable. Try again in a minute."
	}
	tid := trace.SpanContextFromContext(r.Context()).TraceID().String()
	s.log.ErrorContext(r.Context(), "internal API call failed", "path", r.URL.Path, "error", err)
	return http.StatusInternalServerError, "Something went wrong on our side (reference " + tid + "). Try again in a moment."
}

// statusMessage is a status's message without the code prefix.
func statusMessage(err error) string {
	msg := strings.TrimSuffix(status.Convert(err).Message(), ".")
	if msg == "" {
		return "The request was refused."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// clientAddress is the client's address for the per-address limits: the
// trusted proxy's header when one is configured (a header a client could
// set itself is never read otherwise), else the connection's address.
func (s *Server) clientAddress(r *http.Request) string {
	if h := s.opts.ClientIPHeader; h != "" {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			return v
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// queued wakes the mail sender.
func (s *Server) queued() {
	if s.opts.MailQueued == nil {
		return
	}
	select {
	case s.opts.MailQueued <- struct{}{}:
	default:
	}
}
