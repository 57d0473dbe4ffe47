package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/services/console/internal/store"
	"github.com/cloudlicense/authority/services/console/internal/web"
)

// pages serves the console over a real store; no internal API is needed
// for the pages these tests open.
func pages(t *testing.T, public string) http.Handler {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), testenv.NewDatabase(t), "console", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(t.Context(), pool, "console", pgdb.Source{Name: "console", FS: store.Migrations()}); err != nil {
		t.Fatal(err)
	}
	s, err := web.New(store.New(pool, public), nil, slog.New(slog.DiscardHandler), web.Options{PublicURL: public, CloudURL: "https://cloud.example.com",
		SessionTTL: time.Hour, SignInWindow: time.Minute, SignInPerAccount: 2, SignInPerAddress: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, h http.Handler, path string) (*httptest.ResponseRecorder, *http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if strings.HasSuffix(c.Name, "console_csrf") {
			cookie = c
		}
	}
	token := ""
	if m := csrfField.FindStringSubmatch(rec.Body.String()); m != nil {
		token = m[1]
	}
	return rec, cookie, token
}

func post(h http.Handler, path string, form url.Values, cookie *http.Cookie, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestFormsNeedTheirCSRFTokenAndOrigin(t *testing.T) {
	t.Parallel()
	const public = "https://console.example.com"
	h := pages(t, public)
	rec, cookie, token := get(t, h, "/signup")
	if rec.Code != http.StatusOK || cookie == nil || token != cookie.Value {
		t.Fatalf("GET /signup: %d, cookie %v, form token %q", rec.Code, cookie, token)
	}
	// Over https the cookie is __Host-, Secure, HTTP-only and strict.
	if cookie.Name != "__Host-console_csrf" || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("CSRF cookie %+v", cookie)
	}
	for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q", csp)
	}
	bad := url.Values{"email": {"x"}}
	tests := []struct {
		name   string
		form   url.Values
		cookie *http.Cookie
		origin string
		status int
	}{
		{"no token", bad, cookie, public, http.StatusForbidden},
		{"no cookie", url.Values{"csrf": {token}, "email": {"x"}}, nil, public, http.StatusForbidden},
		{"another token", url.Values{"csrf": {"csrf_" + strings.Repeat("a", 43)}, "email": {"x"}}, cookie, public, http.StatusForbidden},
		{"another site", url.Values{"csrf": {token}, "email": {"x"}}, cookie, "https://evil.example", http.StatusForbidden},
		{"this site", url.Values{"csrf": {token}, "email": {"x"}}, cookie, public, http.StatusBadRequest},
		{"no Origin header", url.Values{"csrf": {token}, "email": {"x"}}, cookie, "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		rec := post(h, "/signup", tt.form, tt.cookie, tt.origin)
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.status)
		}
		body := rec.Body.String()
		if tt.status == http.StatusForbidden && !strings.Contains(body, "This form has expired or came from another site") {
			t.Errorf("%s: the page does not say why:\n%s", tt.name, body)
		}
		if tt.status == http.StatusBadRequest && (!strings.Contains(body, "Enter an e-mail address like name@example.com.") || !strings.Contains(body, `aria-invalid="true"`)) {
			t.Errorf("%s: the field errors are not shown:\n%s", tt.name, body)
		}
	}
}

func TestSignedOutVisitors(t *testing.T) {
	t.Parallel()
	h := pages(t, "http://127.0.0.1:8090")
	rec, cookie, _ := get(t, h, "/workspaces/abc")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin?next=%2Fworkspaces%2Fabc" {
		t.Fatalf("a signed-out visitor: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// Over plain http (development) the cookie cannot be Secure.
	if cookie == nil || cookie.Name != "console_csrf" || cookie.Secure {
		t.Fatalf("cookie over http: %+v", cookie)
	}
	rec, _, _ = get(t, h, "/no/such/page")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "There is no page at this address.") {
		t.Fatalf("unknown page: %d", rec.Code)
	}
	// A link that does not exist, used or not, is explained.
	rec, _, _ = get(t, h, "/verify?token=et_unknown")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "This link is not valid") {
		t.Fatalf("unknown link: %d\n%s", rec.Code, rec.Body.String())
	}
	// The stylesheet and script are served from the binary (no build step).
	for _, path := range []string{"/static/console.css", "/static/console.js"} {
		rec, _, _ = get(t, h, path)
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK || len(b) < 100 {
			t.Fatalf("%s: %d, %d bytes", path, rec.Code, len(b))
		}
	}
}

// Failed sign-ins are limited per account whatever the password, and an
// unknown address reads like a wrong password.
func TestSignInLimits(t *testing.T) {
	t.Parallel()
	h := pages(t, "http://127.0.0.1:8090")
	_, cookie, token := get(t, h, "/signin")
	try := func(email string) *httptest.ResponseRecorder {
		return post(h, "/signin", url.Values{"csrf": {token}, "email": {email}, "password": {"not the password"}}, cookie, "")
	}
	for range 2 {
		if rec := try("nobody@example.com"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Wrong e-mail address or password") {
			t.Fatalf("wrong sign-in: %d", rec.Code)
		}
	}
	rec := try("nobody@example.com")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many failed sign-in attempts") {
		t.Fatalf("third sign-in for the account: %d", rec.Code)
	}
	// Another account from the same address: one more failure allowed,
	// then the address limit (3) holds for every account.
	if rec := try("other@example.com"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("another account: %d", rec.Code)
	}
	if rec := try("third@example.com"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("past the address limit: %d", rec.Code)
	}
}
