package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
)

// FuzzTokenRequest feeds arbitrary bodies to the OAuth token endpoint. The
// token service is asked only for a well-formed client-credentials grant, with
// exactly the id and secret the form carries; everything else is a 4xx in the
// protocol's error shape, never a panic.
func FuzzTokenRequest(f *testing.F) {
	for _, s := range []string{
		"grant_type=client_credentials&client_id=c&client_secret=s&scope=workspace:license:read",
		"grant_type=client_credentials&client_id=c&client_secret=",
		"grant_type=password&client_id=c&client_secret=s",
		"grant_type=client_credentials&client_id=c&client_id=d&client_secret=s",
		"grant_type=client_credentials;client_id=c;client_secret=s",
		"grant_type=client_credentials&client_id=%zz&client_secret=s",
		"grant_type=client_credentials&client_id=c%00&client_secret=s%0a",
		"%", "&&&", "=", "",
		`{"grant_type":"client_credentials","client_id":"c","client_secret":"s"}`,
	} {
		f.Add(s)
	}
	const limit = 4096
	e := start(f, envOptions{opts: httpapi.Options{MaxBodyBytes: limit}})
	f.Fuzz(func(t *testing.T, body string) {
		_, before, _ := e.fakes.recorded()
		rec := e.do(t, tokenRequest(t, body, nil))
		_, after, _ := e.fakes.recorded()
		reached := len(after) > len(before)

		form, perr := url.ParseQuery(body)
		wellFormed := len(body) <= limit && perr == nil && form.Get("grant_type") == "client_credentials" &&
			form.Get("client_id") != "" && form.Get("client_secret") != ""
		switch {
		case wellFormed != reached:
			t.Fatalf("body %q: reached the token service %v, want %v (status %d)", body, reached, wellFormed, rec.Code)
		case reached:
			got := after[len(after)-1]
			if got.GetClientId() != form.Get("client_id") || got.GetClientSecret() != form.Get("client_secret") || got.GetScope() != form.Get("scope") {
				t.Fatalf("body %q: the token service was asked for %v", body, got)
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("body %q: status %d after the token service answered", body, rec.Code)
			}
		case len(body) > limit:
			errorBody(t, rec, http.StatusRequestEntityTooLarge, "invalid_request")
		default:
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("body %q: status %d, want 400", body, rec.Code)
			}
			var pe map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &pe); err != nil || pe["error"] == "" || pe["error_description"] == "" {
				t.Fatalf("body %q: error body %q", body, rec.Body)
			}
		}
	})
}

// FuzzWorkspaceAuthorization feeds arbitrary Authorization headers to a
// workspace endpoint: only "Bearer <the genuine token>" (any case, any
// surrounding space) reaches the sync service; every other header is 401
// with WWW-Authenticate.
func FuzzWorkspaceAuthorization(f *testing.F) {
	e := start(f, envOptions{})
	good := signToken(f, tokenSpec{ws: ws, scope: defaultScopes})
	for _, s := range []string{
		"Bearer " + good, "bearer " + good, "BEARER  " + good + " ", "Bearer", "Bearer ", "Basic " + good, good,
		"Bearer " + good[:len(good)-1], "Bearer " + good + "x", "Bearer " + strings.Replace(good, ".", "", 1),
		"Bearer " + signToken(f, tokenSpec{key: "stranger", ws: ws, scope: defaultScopes}),
		"Bearer\t" + good, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		_, _, before := e.fakes.recorded()
		r := syncRequest(t, syncPath, "", syncBody)
		r.Header["Authorization"] = []string{header}
		rec := e.do(t, r)
		_, _, after := e.fakes.recorded()
		genuine := len(header) >= 7 && strings.EqualFold(header[:7], "bearer ") && strings.TrimSpace(header[7:]) == good
		if reached := len(after) > len(before); reached != genuine {
			t.Fatalf("header %q: reached the sync service %v, want %v (status %d)", header, reached, genuine, rec.Code)
		}
		if genuine {
			return
		}
		errorBody(t, rec, http.StatusUnauthorized, "invalid_token")
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("header %q: 401 without WWW-Authenticate", header)
		}
	})
}
