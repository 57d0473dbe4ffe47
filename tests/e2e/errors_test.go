package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/tests/workspace"
)

// counts reads how many workspaces exist and how often the token was used,
// to show a refused request changed nothing.
func counts(t *testing.T, sys *system) (workspaces, uses int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), sys.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM registry.workspaces), (SELECT coalesce(sum(uses), 0) FROM tokens.registration_tokens)`).Scan(&workspaces, &uses); err != nil {
		t.Fatal(err)
	}
	return workspaces, uses
}

func execSQL(t *testing.T, sys *system, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), sys.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func wantError(t *testing.T, err error, status int, code, descContains string) {
	t.Helper()
	var e *workspace.Error
	if !errors.As(err, &e) {
		t.Fatalf("want HTTP %d %s, got %v", status, code, err)
	}
	if e.Status != status || e.Code != code || !strings.Contains(e.Description, descContains) {
		t.Fatalf("got %d %q %q, want %d %q containing %q", e.Status, e.Code, e.Description, status, code, descContains)
	}
	if ct := e.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
}

// TestRegistrationTokenErrors: a bad, reused, expired or revoked token is a
// 401 invalid_registration_token that says which, and leaves no workspace and
// no token use behind.
func TestRegistrationTokenErrors(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Errors Inc")

	used := createToken(t, sys, customer, "", 1)
	if _, err := ws.Register(ctx, used, "a@errors.test", "first"); err != nil {
		t.Fatal(err)
	}
	expired := createToken(t, sys, customer, "", 1)
	execSQL(t, sys, `UPDATE tokens.registration_tokens SET expires_at = now() - interval '1 second' WHERE secret_hash = encode(sha256($1::bytea), 'hex')`, expired)
	revoked := createToken(t, sys, customer, "", 1)
	execSQL(t, sys, `UPDATE tokens.registration_tokens SET revoked_at = now() WHERE secret_hash = encode(sha256($1::bytea), 'hex')`, revoked)

	beforeWS, beforeUses := counts(t, sys)
	for _, tc := range []struct {
		name, token, desc string
	}{
		{"unknown", "rt_not-a-real-token", "unknown"},
		{"reused", used, "already been used"},
		{"expired", expired, "expired"},
		{"revoked", revoked, "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ws.Register(ctx, tc.token, "b@errors.test", "second")
			wantError(t, err, http.StatusUnauthorized, "invalid_registration_token", tc.desc)
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := ws.Register(ctx, "", "b@errors.test", "second")
		wantError(t, err, http.StatusUnauthorized, "invalid_registration_token", "missing")
	})
	if afterWS, afterUses := counts(t, sys); afterWS != beforeWS || afterUses != beforeUses {
		t.Fatalf("refused registrations changed state: workspaces %d->%d, uses %d->%d", beforeWS, afterWS, beforeUses, afterUses)
	}

	// An unknown customer or plan is refused when the token is created.
	if _, errOut, err := sys.Licensectl(ctx, "", "tokens", "create", "-customer", "cus_nobody"); err == nil || !strings.Contains(errOut, "CUSTOMER_NOT_FOUND") {
		t.Errorf("token for an unknown customer: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := sys.Licensectl(ctx, "", "tokens", "create", "-customer", customer, "-plan", "platinum"); err == nil || !strings.Contains(errOut, "PLAN_NOT_FOUND") {
		t.Errorf("token for an unknown plan: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := sys.Licensectl(ctx, "", "tokens", "create", "-customer", customer, "-ttl", "10s"); err == nil || !strings.Contains(errOut, "ttl_seconds") {
		t.Errorf("token with a 10s lifetime: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := sys.Licensectl(ctx, "", "tokens", "create", "-customer", customer, "-max-uses", "0"); err == nil || !strings.Contains(errOut, "max-uses") {
		t.Errorf("token with max-uses 0: err %v, stderr %q", err, errOut)
	}
}

// TestSingleUseTokenRace: workspaces racing for one single-use token give
// exactly one registration.
func TestSingleUseTokenRace(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	token := createToken(t, sys, createCustomer(t, sys, "Race"), "", 1)
	const racers = 8
	var wg sync.WaitGroup
	results := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, results[i] = workspace.New(sys.GatewayURL).Register(ctx, token, "race@race.test", "racer")
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
			continue
		}
		wantError(t, err, http.StatusUnauthorized, "invalid_registration_token", "already been used")
	}
	if wins != 1 {
		t.Fatalf("%d registrations succeeded with a single-use token, want 1", wins)
	}
	if n, uses := counts(t, sys); n != 1 || uses != 1 {
		t.Fatalf("workspaces %d, uses %d; want 1 and 1", n, uses)
	}
}

// TestCredentialAndRequestErrors: wrong secrets, other workspaces' data and
// malformed requests each get the protocol's error.
func TestCredentialAndRequestErrors(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Two")
	token := createToken(t, sys, customer, "", 2)
	a, err := ws.Register(ctx, token, "a@two.test", "A")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ws.Register(ctx, token, "b@two.test", "B")
	if err != nil {
		t.Fatal(err)
	}
	tokA, err := ws.Token(ctx, a.ClientID, a.ClientSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	good := workspace.RegistrationData{UniqueID: "u-a", Address: "a.two.test", Version: "7.2.1", Seats: 3}

	t.Run("wrong client secret", func(t *testing.T) {
		_, err := ws.Token(ctx, a.ClientID, a.ClientSecret+"x", "")
		wantError(t, err, http.StatusUnauthorized, "oauth_invalid_client_credentials", "")
	})
	t.Run("unknown client", func(t *testing.T) {
		_, err := ws.Token(ctx, "nobody", "cs_nothing", "")
		wantError(t, err, http.StatusUnauthorized, "oauth_invalid_client_credentials", "")
	})
	t.Run("another workspace's secret", func(t *testing.T) {
		_, err := ws.Token(ctx, a.ClientID, b.ClientSecret, "")
		wantError(t, err, http.StatusUnauthorized, "oauth_invalid_client_credentials", "")
	})
	t.Run("unsupported grant", func(t *testing.T) {
		_, err := ws.Do(ctx, http.MethodPost, "/api/oauth/token", "", "application/x-www-form-urlencoded",
			strings.NewReader("grant_type=password&client_id="+a.ClientID+"&client_secret="+a.ClientSecret), nil)
		wantError(t, err, http.StatusBadRequest, "unsupported_grant_type", "password")
	})
	t.Run("scope the workspace may not hold", func(t *testing.T) {
		_, err := ws.Token(ctx, a.ClientID, a.ClientSecret, "admin:everything")
		wantError(t, err, http.StatusBadRequest, "invalid_scope", "")
	})
	t.Run("another workspace's URL is 404", func(t *testing.T) {
		_, err := ws.Sync(ctx, b.WorkspaceID, tokA.AccessToken, good)
		wantError(t, err, http.StatusNotFound, "not_found", "")
	})
	t.Run("another workspace's id in the body", func(t *testing.T) {
		d := good
		d.WorkspaceID = b.WorkspaceID
		_, err := ws.Sync(ctx, a.WorkspaceID, tokA.AccessToken, d)
		wantError(t, err, http.StatusBadRequest, "invalid_request", "workspaceId")
	})
	t.Run("no access token", func(t *testing.T) {
		_, err := ws.Sync(ctx, a.WorkspaceID, "", good)
		wantError(t, err, http.StatusUnauthorized, "invalid_token", "")
	})
	t.Run("forged access token", func(t *testing.T) {
		parts := strings.Split(tokA.AccessToken, ".")
		forged := parts[0] + "." + strings.TrimSuffix(parts[1], parts[1][len(parts[1])-2:]) + "xx." + parts[2]
		_, err := ws.Sync(ctx, a.WorkspaceID, forged, good)
		wantError(t, err, http.StatusUnauthorized, "invalid_token", "")
	})
	t.Run("token without the license scope", func(t *testing.T) {
		tok, err := ws.Token(ctx, a.ClientID, a.ClientSecret, "workspace:stats:write")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ws.Sync(ctx, a.WorkspaceID, tok.AccessToken, good)
		wantError(t, err, http.StatusForbidden, "insufficient_scope", "workspace:license:read")
	})
	t.Run("body not JSON", func(t *testing.T) {
		_, err := ws.Do(ctx, http.MethodPost, "/api/v2/workspaces/"+a.WorkspaceID+"/sync", tokA.AccessToken, "application/json", strings.NewReader("{not json"), nil)
		wantError(t, err, http.StatusBadRequest, "invalid_request", "JSON")
	})
	t.Run("field of the wrong type", func(t *testing.T) {
		_, err := ws.Do(ctx, http.MethodPost, "/api/v2/workspaces/"+a.WorkspaceID+"/sync", tokA.AccessToken, "application/json",
			strings.NewReader(`{"uniqueId":"u","address":"a.two.test","version":"7.2.1","seats":"many"}`), nil)
		wantError(t, err, http.StatusBadRequest, "invalid_request", "seats")
	})
	for _, missing := range []string{"uniqueId", "address", "version"} {
		t.Run("missing "+missing, func(t *testing.T) {
			d := good
			switch missing {
			case "uniqueId":
				d.UniqueID = ""
			case "address":
				d.Address = ""
			case "version":
				d.Version = ""
			}
			_, err := ws.Sync(ctx, a.WorkspaceID, tokA.AccessToken, d)
			wantError(t, err, http.StatusBadRequest, "invalid_registration_data", missing)
		})
	}
	t.Run("negative seats", func(t *testing.T) {
		d := good
		d.Seats = -1
		_, err := ws.Sync(ctx, a.WorkspaceID, tokA.AccessToken, d)
		wantError(t, err, http.StatusBadRequest, "invalid_registration_data", "seats")
	})
	t.Run("registration body not JSON", func(t *testing.T) {
		before, _ := counts(t, sys)
		_, err := ws.Do(ctx, http.MethodPost, "/api/oauth/clients", token, "application/json", strings.NewReader("email=x"), nil)
		wantError(t, err, http.StatusBadRequest, "invalid_request", "JSON")
		if after, _ := counts(t, sys); after != before {
			t.Fatal("a malformed registration created a workspace")
		}
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		_, err := ws.Do(ctx, http.MethodGet, "/api/v2/nothing", "", "", nil, nil)
		wantError(t, err, http.StatusNotFound, "not_found", "")
	})
	// Nothing of a refused sync was stored.
	conn, err := pgx.Connect(ctx, sys.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var reports int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sync.usage_reports`).Scan(&reports); err != nil || reports != 0 {
		t.Fatalf("usage reports after refused syncs: %d (%v), want 0", reports, err)
	}
}

// TestTamperedLicense: a license whose payload was edited does not verify,
// offline or with licensectl.
func TestTamperedLicense(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	creds, err := ws.Register(ctx, createToken(t, sys, createCustomer(t, sys, "Tamper"), "", 1), "t@t.test", "T")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, workspace.RegistrationData{UniqueID: "u", Address: "t.test", Version: "7.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimPrefix(resp.License, "RCV3_"), ".")
	payload := []byte(parts[1])
	payload[10] ^= 1 // one bit of the claims
	tampered := "RCV3_" + parts[0] + "." + string(payload) + "." + parts[2]
	dir := t.TempDir()
	file := filepath.Join(dir, "tampered.txt")
	_ = os.WriteFile(file, []byte(tampered), 0o600)
	keyFile := filepath.Join(dir, "key.pem")
	_ = os.WriteFile(keyFile, []byte(creds.PublicKey), 0o600)
	out, errOut, err := sys.Licensectl(ctx, "", "license", "verify", "-public-key", keyFile, file)
	if err == nil || !strings.Contains(errOut, "does NOT verify") {
		t.Fatalf("tampered license: err %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	// And the untampered one does, from standard input.
	if _, errOut, err := sys.Licensectl(ctx, resp.License, "license", "verify", "-public-key", keyFile, "-"); err != nil {
		t.Fatalf("genuine license from stdin: %v %s", err, errOut)
	}
}
