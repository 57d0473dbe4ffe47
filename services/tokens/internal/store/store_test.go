package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
	"github.com/cloudlicense/authority/services/tokens/internal/store"
)

// schema is the token service's schema, as app.Start names it.
const schema = "tokens"

// newStore returns a store over a fresh database migrated exactly as the
// service migrates it at start-up.
func newStore(t testing.TB) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), schema, 20)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		pgdb.Source{Name: schema, FS: store.Migrations()},
	); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return store.New(pool), pool
}

func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func uses(t testing.TB, pool *pgxpool.Pool, tokenID string) int {
	t.Helper()
	return count(t, pool, `SELECT uses FROM registration_tokens WHERE id = $1`, tokenID)
}

func newToken(t testing.TB, st *store.Store, maxUses int32) (domain.RegistrationToken, string) {
	t.Helper()
	tok, secret, err := st.CreateRegistrationToken(t.Context(), "cus_1", "plan_pro", maxUses, time.Hour)
	if err != nil {
		t.Fatalf("CreateRegistrationToken: %v", err)
	}
	return tok, secret
}

func TestCreateRegistrationToken(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	before := time.Now()
	tok, secret, err := st.CreateRegistrationToken(t.Context(), "cus_1", "plan_pro", 5, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" || tok.CustomerID != "cus_1" || tok.PlanID != "plan_pro" || tok.MaxUses != 5 || tok.Uses != 0 || tok.RevokedAt != nil {
		t.Fatalf("token = %+v", tok)
	}
	if d := tok.ExpiresAt.Sub(before); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Fatalf("expires %v after creation, want about 2h", d)
	}
	if secret == "" || secret == tok.ID {
		t.Fatalf("secret %q", secret)
	}
}

func TestRedeemWritesCredentialsAndEventInOneTransaction(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tok, secret := newToken(t, st, 1)

	r, err := st.Redeem(t.Context(), secret, "ws-1", "Example Chat", []string{"https://chat.example.com/callback"})
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	if r.TokenID != tok.ID || r.CustomerID != "cus_1" || r.PlanID != "plan_pro" || r.ClientID == "" || r.ClientSecret == "" {
		t.Fatalf("redemption = %+v", r)
	}

	cred, err := st.Credential(t.Context(), r.ClientID)
	if err != nil {
		t.Fatalf("Credential: %v", err)
	}
	if cred.WorkspaceID != "ws-1" || cred.Revoked || cred.SecretHash != domain.Hash(r.ClientSecret) {
		t.Fatalf("credential = %+v", cred)
	}
	if len(cred.Scopes) != len(domain.WorkspaceScopes) {
		t.Fatalf("credential scopes = %q, want %q", cred.Scopes, domain.WorkspaceScopes)
	}
	var clientName string
	var redirects []string
	if err := pool.QueryRow(t.Context(), `SELECT client_name, redirect_uris FROM client_credentials WHERE client_id = $1`, r.ClientID).Scan(&clientName, &redirects); err != nil {
		t.Fatal(err)
	}
	if clientName != "Example Chat" || len(redirects) != 1 || redirects[0] != "https://chat.example.com/callback" {
		t.Fatalf("stored client_name %q redirect_uris %q", clientName, redirects)
	}
	if got := uses(t, pool, tok.ID); got != 1 {
		t.Fatalf("uses = %d, want 1", got)
	}

	// The event: one outbox row, for this workspace, announcing these credentials.
	var subject string
	var payload, headers []byte
	if err := pool.QueryRow(t.Context(), `SELECT subject, payload, headers FROM outbox`).Scan(&subject, &payload, &headers); err != nil {
		t.Fatalf("outbox row: %v", err)
	}
	if subject != events.SubjectCredentialsIssued {
		t.Fatalf("subject = %q, want %q", subject, events.SubjectCredentialsIssued)
	}
	var e eventsv1.CredentialsIssued
	if err := proto.Unmarshal(payload, &e); err != nil {
		t.Fatal(err)
	}
	if e.GetWorkspaceId() != "ws-1" || e.GetClientId() != r.ClientID || e.GetRegistrationTokenId() != tok.ID || e.GetIssuedAt() == nil {
		t.Fatalf("event = %v", &e)
	}
	var h map[string]string
	if err := json.Unmarshal(headers, &h); err != nil {
		t.Fatal(err)
	}
	if h[events.HeaderAggregateID] != "ws-1" || h[events.HeaderAggregateSeq] != "1" {
		t.Fatalf("headers = %v", h)
	}

	// Same transaction: every row the redemption wrote carries the same xmin.
	var xids []string
	for _, q := range []string{
		`SELECT xmin::text FROM registration_tokens WHERE id = '` + tok.ID + `'`,
		`SELECT xmin::text FROM redemptions WHERE workspace_id = 'ws-1'`,
		`SELECT xmin::text FROM client_credentials WHERE workspace_id = 'ws-1'`,
		`SELECT xmin::text FROM outbox`,
	} {
		var x string
		if err := pool.QueryRow(t.Context(), q).Scan(&x); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		xids = append(xids, x)
	}
	for _, x := range xids[1:] {
		if x != xids[0] {
			t.Fatalf("rows written by different transactions: %v", xids)
		}
	}
}

func TestRedeemRefusals(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()

	_, usedUp := newToken(t, st, 1)
	if _, err := st.Redeem(ctx, usedUp, "ws-first", "", nil); err != nil {
		t.Fatal(err)
	}
	expiredTok, expired := newToken(t, st, 1)
	if _, err := pool.Exec(ctx, `UPDATE registration_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredTok.ID); err != nil {
		t.Fatal(err)
	}
	revokedTok, revoked := newToken(t, st, 1)
	if _, err := st.RevokeRegistrationToken(ctx, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	// Revoked and expired: revoked is the more useful answer.
	bothTok, both := newToken(t, st, 1)
	if _, err := pool.Exec(ctx, `UPDATE registration_tokens SET expires_at = now() - interval '1 second', revoked_at = now() WHERE id = $1`, bothTok.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		secret string
		want   error
	}{
		{"unknown", "rt_does-not-exist", domain.ErrTokenUnknown},
		{"empty", "", domain.ErrTokenUnknown},
		{"expired", expired, domain.ErrTokenExpired},
		{"used up", usedUp, domain.ErrTokenUsedUp},
		{"revoked", revoked, domain.ErrTokenRevoked},
		{"revoked and expired", both, domain.ErrTokenRevoked},
	}
	outboxBefore := count(t, pool, `SELECT count(*) FROM outbox`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Redeem(ctx, tt.secret, "ws-"+tt.name, "", nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Redeem = %v, want %v", err, tt.want)
			}
		})
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != outboxBefore {
		t.Fatalf("refused redemptions wrote %d outbox rows", n-outboxBefore)
	}
	if n := count(t, pool, `SELECT count(*) FROM client_credentials`); n != 1 {
		t.Fatalf("%d credentials, want only the first redemption's", n)
	}
}

func TestRedeemMultiUseCountsUses(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tok, secret := newToken(t, st, 3)
	clients := map[string]bool{}
	for i := range 3 {
		r, err := st.Redeem(t.Context(), secret, fmt.Sprintf("ws-%d", i), "", nil)
		if err != nil {
			t.Fatalf("redemption %d: %v", i+1, err)
		}
		if clients[r.ClientID] {
			t.Fatalf("client id %s issued twice", r.ClientID)
		}
		clients[r.ClientID] = true
		if got := uses(t, pool, tok.ID); got != i+1 {
			t.Fatalf("after %d redemptions uses = %d", i+1, got)
		}
	}
	if _, err := st.Redeem(t.Context(), secret, "ws-4", "", nil); !errors.Is(err, domain.ErrTokenUsedUp) {
		t.Fatalf("fourth redemption = %v, want %v", err, domain.ErrTokenUsedUp)
	}
	if got := uses(t, pool, tok.ID); got != 3 {
		t.Fatalf("uses = %d after refusal, want 3", got)
	}
}

func TestRedeemConcurrentTakesExactlyMaxUses(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tok, secret := newToken(t, st, 3)

	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			_, errs[i] = st.Redeem(t.Context(), secret, fmt.Sprintf("ws-race-%d", i), "", nil)
		})
	}
	close(start)
	wg.Wait()

	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, domain.ErrTokenUsedUp):
		default:
			t.Errorf("racer %d: %v, want success or %v", i, err, domain.ErrTokenUsedUp)
		}
	}
	if ok != 3 {
		t.Fatalf("%d redemptions succeeded, want exactly 3", ok)
	}
	if got := uses(t, pool, tok.ID); got != 3 {
		t.Fatalf("uses = %d, want 3", got)
	}
	for table, want := range map[string]int{"redemptions": 3, "client_credentials": 3, "outbox": 3} {
		if n := count(t, pool, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s has %d rows, want %d", table, n, want)
		}
	}
}

func TestRedeemTwiceForOneWorkspace(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tok, secret := newToken(t, st, 5)
	if _, err := st.Redeem(t.Context(), secret, "ws-1", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Redeem(t.Context(), secret, "ws-1", "", nil); !errors.Is(err, domain.ErrAlreadyRedeemed) {
		t.Fatalf("second redemption = %v, want %v", err, domain.ErrAlreadyRedeemed)
	}
	// The refused redemption took nothing: no use, no credential, no event.
	if got := uses(t, pool, tok.ID); got != 1 {
		t.Fatalf("uses = %d, want 1", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM client_credentials WHERE workspace_id = 'ws-1'`); n != 1 {
		t.Fatalf("%d credentials for ws-1, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 1 {
		t.Fatalf("%d outbox rows, want 1", n)
	}
}

func TestReleaseRedemption(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	tok, secret := newToken(t, st, 1)
	r, err := st.Redeem(ctx, secret, "ws-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}

	for i := range 2 { // idempotent: the second call changes nothing
		if err := st.ReleaseRedemption(ctx, "ws-1"); err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
		if got := uses(t, pool, tok.ID); got != 0 {
			t.Fatalf("after release %d uses = %d, want 0", i+1, got)
		}
		cred, err := st.Credential(ctx, r.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !cred.Revoked {
			t.Fatalf("after release %d the credentials are not revoked", i+1)
		}
	}

	// The use given back can be taken by another workspace.
	if _, err := st.Redeem(ctx, secret, "ws-2", "", nil); err != nil {
		t.Fatalf("redeem after release: %v", err)
	}
	// Releasing again for the first workspace must not give back ws-2's use.
	if err := st.ReleaseRedemption(ctx, "ws-1"); err != nil {
		t.Fatal(err)
	}
	if got := uses(t, pool, tok.ID); got != 1 {
		t.Fatalf("uses = %d, want 1 (ws-2's)", got)
	}
	// Unknown workspace: nothing to release, no error.
	if err := st.ReleaseRedemption(ctx, "ws-never"); err != nil {
		t.Fatalf("release of an unknown workspace: %v", err)
	}
}

func TestCredentialUnknown(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	if _, err := st.Credential(t.Context(), "no-such-client"); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("Credential = %v, want %v", err, domain.ErrInvalidCredentials)
	}
}

func TestRevokeRegistrationToken(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	tok, _ := newToken(t, st, 1)
	first, err := st.RevokeRegistrationToken(t.Context(), tok.ID)
	if err != nil || first.RevokedAt == nil {
		t.Fatalf("revoke = %+v, %v", first, err)
	}
	again, err := st.RevokeRegistrationToken(t.Context(), tok.ID)
	if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Fatalf("second revoke = %+v, %v; want the first revocation time kept", again, err)
	}
	if _, err := st.RevokeRegistrationToken(t.Context(), "rtk_missing"); !errors.Is(err, domain.ErrTokenNotFound) {
		t.Fatalf("revoke unknown = %v, want %v", err, domain.ErrTokenNotFound)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := t.Context()
	k, key, err := st.CreateAPIKey(ctx, "billing bot", "billing")
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.APIKeyByHash(ctx, domain.Hash(key))
	if err != nil || got != k {
		t.Fatalf("APIKeyByHash = %+v, %v; want %+v", got, err, k)
	}
	if _, err := st.APIKeyByHash(ctx, domain.Hash(key+"x")); !errors.Is(err, domain.ErrInvalidAPIKey) {
		t.Fatalf("unknown key = %v, want %v", err, domain.ErrInvalidAPIKey)
	}

	// EnsureAPIKey replaces the secret of a configured key: the old one stops working.
	if err := st.EnsureAPIKey(ctx, "bootstrap-admin", "bootstrap admin", "admin", "old-secret"); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureAPIKey(ctx, "bootstrap-admin", "bootstrap admin", "admin", "new-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.APIKeyByHash(ctx, domain.Hash("old-secret")); !errors.Is(err, domain.ErrInvalidAPIKey) {
		t.Fatalf("replaced key still authenticates: %v", err)
	}
	if got, err := st.APIKeyByHash(ctx, domain.Hash("new-secret")); err != nil || got.Role != "admin" {
		t.Fatalf("new bootstrap key = %+v, %v", got, err)
	}
}

// Every secret the store hands out is kept only as its hash: no column of
// any table of the schema (outbox payloads included) contains it.
func TestSecretsStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	_, tokenSecret := newToken(t, st, 2)
	r, err := st.Redeem(ctx, tokenSecret, "ws-1", "Chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, apiKey, err := st.CreateAPIKey(ctx, "ops", "support")
	if err != nil {
		t.Fatal(err)
	}

	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 4 {
		t.Fatalf("found only tables %q", tables)
	}

	for name, secret := range map[string]string{"registration token": tokenSecret, "client secret": r.ClientSecret, "API key": apiKey} {
		for _, table := range tables {
			if n := count(t, pool, fmt.Sprintf(`SELECT count(*) FROM %s AS x WHERE strpos(x::text, $1) > 0`, table), secret); n != 0 {
				t.Errorf("%s found in plain text in %d rows of %s", name, n, table)
			}
		}
		if n := count(t, pool, `SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') IN payload) > 0`, secret); n != 0 {
			t.Errorf("%s found in an outbox payload", name)
		}
		// Control: the hash is there, so the search above does look in the right place.
		found := 0
		for _, table := range tables {
			found += count(t, pool, fmt.Sprintf(`SELECT count(*) FROM %s AS x WHERE strpos(x::text, $1) > 0`, table), domain.Hash(secret))
		}
		if found != 1 {
			t.Errorf("hash of the %s found in %d rows, want 1", name, found)
		}
	}
}
