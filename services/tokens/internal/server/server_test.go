package server_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
)

func TestCreateRegistrationTokenValidation(t *testing.T) {
	t.Parallel()
	e := start(t)
	const day = 24 * 60 * 60
	tests := []struct {
		name  string
		req   *tokensv1.CreateRegistrationTokenRequest
		field string
	}{
		{"customer missing", &tokensv1.CreateRegistrationTokenRequest{}, "customer_id"},
		{"customer blank", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "  "}, "customer_id"},
		{"max_uses negative", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: -1}, "max_uses"},
		{"max_uses above limit", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: domain.MaxTokenUses + 1}, "max_uses"},
		{"max_uses int32 max", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: math.MaxInt32}, "max_uses"},
		{"ttl under a minute", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: 59}, "ttl_seconds"},
		{"ttl negative", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: -3600}, "ttl_seconds"},
		{"ttl over a year", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: 365*day + 1}, "ttl_seconds"},
		{"ttl int64 max", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: math.MaxInt64}, "ttl_seconds"},
		// Seconds that overflow time.Duration to exactly one hour, or to zero
		// (which would then read as "use the default").
		{"ttl overflowing to an hour", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: 1<<55 + 3600}, "ttl_seconds"},
		{"ttl overflowing to zero", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: 1 << 55}, "ttl_seconds"},
		{"ttl overflowing negative", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: -(1 << 55) + 3600}, "ttl_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.billing.CreateRegistrationToken(t.Context(), tt.req)
			wantField(t, err, tt.field)
		})
	}
	t.Run("every bad field named at once", func(t *testing.T) {
		t.Parallel()
		_, err := e.billing.CreateRegistrationToken(t.Context(), &tokensv1.CreateRegistrationTokenRequest{MaxUses: -1, TtlSeconds: 1})
		for _, f := range []string{"customer_id", "max_uses", "ttl_seconds"} {
			wantField(t, err, f)
		}
	})
	t.Cleanup(func() {
		if n := e.dir.Calls(); n != 0 {
			t.Errorf("invalid requests asked the directory %d times", n)
		}
	})
}

func TestCreateRegistrationTokenBounds(t *testing.T) {
	t.Parallel()
	e := start(t)
	tests := []struct {
		name     string
		req      *tokensv1.CreateRegistrationTokenRequest
		maxUses  int32
		lifetime time.Duration
	}{
		{"defaults", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1"}, 1, domain.DefaultTokenTTL},
		{"lowest bounds", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 1, TtlSeconds: 60}, 1, time.Minute},
		{"highest bounds", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: domain.MaxTokenUses, TtlSeconds: int64(domain.MaxTokenTTL / time.Second)}, domain.MaxTokenUses, domain.MaxTokenTTL},
		{"with plan", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", PlanId: "plan_pro", MaxUses: 3, TtlSeconds: 3600}, 3, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.billing.CreateRegistrationToken(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			tok := resp.GetToken()
			if tok.GetMaxUses() != tt.maxUses || tok.GetUses() != 0 || tok.GetCustomerId() != "cus_1" || tok.GetPlanId() != tt.req.GetPlanId() || tok.GetRevokedAt() != nil {
				t.Fatalf("token = %v", tok)
			}
			lifetime := tok.GetExpiresAt().AsTime().Sub(tok.GetCreatedAt().AsTime())
			if d := lifetime - tt.lifetime; d < -time.Second || d > time.Second {
				t.Fatalf("lifetime %v, want %v", lifetime, tt.lifetime)
			}
			assertSecret(t, resp.GetSecret(), domain.PrefixRegistrationToken)
		})
	}
}

func assertSecret(t testing.TB, secret, prefix string) {
	t.Helper()
	rest, ok := strings.CutPrefix(secret, prefix)
	if !ok {
		t.Fatalf("secret %q lacks prefix %q", secret, prefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw)*8 < 128 {
		t.Fatalf("secret %q carries %d bytes (%v), want at least 128 random bits", secret, len(raw), err)
	}
}

func TestCreateRegistrationTokenDirectory(t *testing.T) {
	t.Parallel()
	e := start(t)
	tests := []struct {
		name   string
		req    *tokensv1.CreateRegistrationTokenRequest
		code   codes.Code
		reason string
	}{
		{"unknown customer", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_missing"}, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"unknown plan", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", PlanId: "plan_missing"}, codes.NotFound, "PLAN_NOT_FOUND"},
		{"unknown customer and plan", &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_missing", PlanId: "plan_missing"}, codes.NotFound, "CUSTOMER_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.billing.CreateRegistrationToken(t.Context(), tt.req)
			wantStatus(t, err, tt.code, tt.reason)
		})
	}
	t.Cleanup(func() {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM registration_tokens`).Scan(&n); err != nil || n != 0 {
			t.Errorf("refused requests stored %d tokens (%v)", n, err)
		}
	})
}

func TestCreateRegistrationTokenDirectoryOutage(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.dir.err = status.Error(codes.Unavailable, "registry down")
	_, err := e.billing.CreateRegistrationToken(t.Context(), &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1"})
	if rpcerr.Code(err) != codes.Unavailable {
		t.Fatalf("directory outage gave %v, want Unavailable", err)
	}
}

func TestRedeemRegistrationToken(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok, secret := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", PlanId: "plan_pro"})
	resp, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{
		Secret: secret, WorkspaceId: "ws-1", ClientName: "Chat", RedirectUris: []string{"https://chat.example.com/cb"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCustomerId() != "cus_1" || resp.GetPlanId() != "plan_pro" || resp.GetTokenId() != tok.GetId() || resp.GetClientId() == "" {
		t.Fatalf("response = %v", resp)
	}
	assertSecret(t, resp.GetClientSecret(), domain.PrefixClientSecret)

	var subject string
	if err := e.pool.QueryRow(t.Context(), `SELECT subject FROM outbox WHERE headers->>'Licensing-Aggregate-Id' = 'ws-1'`).Scan(&subject); err != nil || subject != "licensing.credentials.issued.v1" {
		t.Fatalf("outbox subject %q (%v)", subject, err)
	}
}

func TestRedeemRegistrationTokenRefusals(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()

	_, usedUp := e.newToken(t, nil)
	if _, err := e.svc.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{Secret: usedUp, WorkspaceId: "ws-first"}); err != nil {
		t.Fatal(err)
	}
	expiredTok, expired := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", TtlSeconds: 60})
	if _, err := e.pool.Exec(ctx, `UPDATE registration_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredTok.GetId()); err != nil {
		t.Fatal(err)
	}
	revokedTok, revoked := e.newToken(t, nil)
	if _, err := e.billing.RevokeRegistrationToken(ctx, &tokensv1.RevokeRegistrationTokenRequest{Id: revokedTok.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, multi := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 2})
	if _, err := e.svc.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{Secret: multi, WorkspaceId: "ws-twice"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		req    *tokensv1.RedeemRegistrationTokenRequest
		code   codes.Code
		reason string
	}{
		{"unknown", &tokensv1.RedeemRegistrationTokenRequest{Secret: "rt_unknown", WorkspaceId: "ws-a"}, codes.Unauthenticated, "REGISTRATION_TOKEN_UNKNOWN"},
		{"expired", &tokensv1.RedeemRegistrationTokenRequest{Secret: expired, WorkspaceId: "ws-b"}, codes.Unauthenticated, "REGISTRATION_TOKEN_EXPIRED"},
		{"used up", &tokensv1.RedeemRegistrationTokenRequest{Secret: usedUp, WorkspaceId: "ws-c"}, codes.Unauthenticated, "REGISTRATION_TOKEN_USED_UP"},
		{"revoked", &tokensv1.RedeemRegistrationTokenRequest{Secret: revoked, WorkspaceId: "ws-d"}, codes.Unauthenticated, "REGISTRATION_TOKEN_REVOKED"},
		{"same workspace twice", &tokensv1.RedeemRegistrationTokenRequest{Secret: multi, WorkspaceId: "ws-twice"}, codes.AlreadyExists, "WORKSPACE_ALREADY_REDEEMED"},
		{"no secret", &tokensv1.RedeemRegistrationTokenRequest{WorkspaceId: "ws-e"}, codes.InvalidArgument, "INVALID_REQUEST"},
		{"no workspace", &tokensv1.RedeemRegistrationTokenRequest{Secret: multi}, codes.InvalidArgument, "INVALID_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.svc.RedeemRegistrationToken(t.Context(), tt.req)
			wantStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestRedeemMultiUseTokenCountsUses(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok, secret := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 2})
	for i := range 2 {
		if _, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: fmt.Sprintf("ws-%d", i)}); err != nil {
			t.Fatalf("redemption %d: %v", i+1, err)
		}
	}
	_, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: "ws-3"})
	wantStatus(t, err, codes.Unauthenticated, "REGISTRATION_TOKEN_USED_UP")
	// Revoking returns the token as stored, with its use count.
	resp, err := e.billing.RevokeRegistrationToken(t.Context(), &tokensv1.RevokeRegistrationTokenRequest{Id: tok.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetToken().GetUses() != 2 || resp.GetToken().GetRevokedAt() == nil {
		t.Fatalf("token = %v, want 2 uses and revoked", resp.GetToken())
	}
}

func TestRedeemConcurrently(t *testing.T) {
	t.Parallel()
	e := start(t)
	_, secret := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 3})
	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-begin
			_, errs[i] = e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: fmt.Sprintf("ws-%d", i)})
		})
	}
	close(begin)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantStatus(t, err, codes.Unauthenticated, "REGISTRATION_TOKEN_USED_UP")
	}
	if ok != 3 {
		t.Fatalf("%d of %d concurrent redemptions of a 3-use token succeeded, want 3", ok, racers)
	}
}

func TestReleaseRedemption(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	tok, secret := e.newToken(t, nil)
	red, err := e.svc.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: "ws-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret()}); err != nil {
		t.Fatalf("credentials before release: %v", err)
	}

	for i := range 2 {
		if _, err := e.svc.ReleaseRedemption(ctx, &tokensv1.ReleaseRedemptionRequest{WorkspaceId: "ws-1"}); err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
	}
	var uses int
	if err := e.pool.QueryRow(ctx, `SELECT uses FROM registration_tokens WHERE id = $1`, tok.GetId()).Scan(&uses); err != nil || uses != 0 {
		t.Fatalf("uses = %d (%v) after release, want 0", uses, err)
	}
	_, err = e.svc.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret()})
	wantStatus(t, err, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS")

	// The use came back: another workspace can redeem the single-use token.
	if _, err := e.svc.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: "ws-2"}); err != nil {
		t.Fatalf("redeem after release: %v", err)
	}
	_, err = e.svc.ReleaseRedemption(ctx, &tokensv1.ReleaseRedemptionRequest{})
	wantField(t, err, "workspace_id")
}

// accessClaims mirrors what a verifier reads from an access token.
type accessClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"`
}

// verifyAccessToken checks tok against the keys GetAccessTokenKeys publishes,
// as the gateway does.
func verifyAccessToken(t testing.TB, e *env, tok string) accessClaims {
	t.Helper()
	keysResp, err := e.svc.GetAccessTokenKeys(t.Context(), &tokensv1.GetAccessTokenKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keysResp.GetKeys()) == 0 {
		t.Fatal("no access token keys published")
	}
	_, payload, err := jws.Verify(tok, func(kid string) (*rsa.PublicKey, error) {
		for _, k := range keysResp.GetKeys() {
			if k.GetKid() != kid {
				continue
			}
			if k.GetAlg() != "RS256" {
				return nil, fmt.Errorf("alg %q", k.GetAlg())
			}
			pub, err := x509.ParsePKIXPublicKey(k.GetSpkiDer())
			if err != nil {
				return nil, err
			}
			return pub.(*rsa.PublicKey), nil
		}
		return nil, fmt.Errorf("no key %q", kid)
	})
	if err != nil {
		t.Fatalf("access token does not verify with the published keys: %v", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueAccessToken(t *testing.T) {
	t.Parallel()
	e := start(t)
	red := e.redeem(t, "ws-1")
	all := strings.Join(domain.WorkspaceScopes, " ")
	tests := []struct {
		name, scope, want string
	}{
		{"empty asks for everything allowed", "", all},
		{"stock default request", all, all},
		{"unknown scopes dropped", "workspace:license:read admin:all", "workspace:license:read"},
		{"order of the request", "workspace:stats:write workspace:license:read", "workspace:stats:write workspace:license:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().Unix()
			resp, err := e.svc.IssueAccessToken(t.Context(), &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret(), Scope: tt.scope})
			after := time.Now().Unix()
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetWorkspaceId() != "ws-1" || resp.GetScope() != tt.want || resp.GetExpiresIn() != int64(accessTTL/time.Second) {
				t.Fatalf("response = %v", resp)
			}
			c := verifyAccessToken(t, e, resp.GetAccessToken())
			if c.Subject != "ws-1" || c.Audience != "workspace" || c.ClientID != red.GetClientId() || c.Scope != tt.want || c.ID == "" || c.Issuer == "" {
				t.Fatalf("claims = %+v", c)
			}
			ttl := int64(accessTTL / time.Second)
			if c.ExpiresAt < before+ttl || c.ExpiresAt > after+ttl || c.ExpiresAt-c.IssuedAt != ttl {
				t.Fatalf("exp %d iat %d, want exp = now + %ds (now in [%d, %d])", c.ExpiresAt, c.IssuedAt, ttl, before, after)
			}
		})
	}
}

func TestIssueAccessTokenRefusals(t *testing.T) {
	t.Parallel()
	e := start(t)
	red := e.redeem(t, "ws-1")
	revoked := e.redeem(t, "ws-revoked")
	if _, err := e.svc.ReleaseRedemption(t.Context(), &tokensv1.ReleaseRedemptionRequest{WorkspaceId: "ws-revoked"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    *tokensv1.IssueAccessTokenRequest
		code   codes.Code
		reason string
	}{
		{"wrong secret", &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret() + "x"}, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS"},
		{"another client's secret", &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: revoked.GetClientSecret()}, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS"},
		{"unknown client", &tokensv1.IssueAccessTokenRequest{ClientId: "nope", ClientSecret: red.GetClientSecret()}, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS"},
		{"revoked credentials", &tokensv1.IssueAccessTokenRequest{ClientId: revoked.GetClientId(), ClientSecret: revoked.GetClientSecret()}, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS"},
		{"only unknown scopes", &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId(), ClientSecret: red.GetClientSecret(), Scope: "admin:all"}, codes.InvalidArgument, "INVALID_SCOPE"},
		{"missing secret", &tokensv1.IssueAccessTokenRequest{ClientId: red.GetClientId()}, codes.InvalidArgument, "INVALID_REQUEST"},
		{"missing client", &tokensv1.IssueAccessTokenRequest{ClientSecret: red.GetClientSecret()}, codes.InvalidArgument, "INVALID_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.svc.IssueAccessToken(t.Context(), tt.req)
			wantStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestGetAccessTokenKeys(t *testing.T) {
	t.Parallel()
	e := start(t)
	resp, err := e.svc.GetAccessTokenKeys(t.Context(), &tokensv1.GetAccessTokenKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetKeys()) != 1 {
		t.Fatalf("%d keys, want 1", len(resp.GetKeys()))
	}
	k := resp.GetKeys()[0]
	pub, err := x509.ParsePKIXPublicKey(k.GetSpkiDer())
	if err != nil {
		t.Fatal(err)
	}
	if k.GetKid() != signingKey().ID || k.GetAlg() != "RS256" || !signingKey().Public().Equal(pub) {
		t.Fatalf("key = kid %q alg %q, want the signing key", k.GetKid(), k.GetAlg())
	}
}

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	e := start(t)
	tests := []struct {
		name, keyName, role string
		wantRole            string // empty: refused
		field               string
	}{
		{"admin", "ops", "admin", "admin", ""},
		{"billing", "billing bot", "billing", "billing", ""},
		{"support", "helpdesk", "support", "support", ""},
		{"operator-read", "dashboards", "operator-read", "operator-read", ""},
		{"service", "worker", "service", "service", ""},
		{"role normalised", "bot", "  Billing ", "billing", ""},
		{"unknown role", "bot", "root", "", "role"},
		{"operator without -read", "bot", "operator", "", "role"},
		{"no role", "bot", "", "", "role"},
		{"no name", " ", "support", "", "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.admin.CreateAPIKey(t.Context(), &tokensv1.CreateAPIKeyRequest{Name: tt.keyName, Role: tt.role})
			if tt.wantRole == "" {
				wantField(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRole() != tt.wantRole || resp.GetKeyId() == "" {
				t.Fatalf("response = %v", resp)
			}
			assertSecret(t, resp.GetKey(), domain.PrefixAPIKey)
			auth, err := e.svc.AuthenticateAPIKey(t.Context(), &tokensv1.AuthenticateAPIKeyRequest{Key: resp.GetKey()})
			if err != nil {
				t.Fatal(err)
			}
			if auth.GetKeyId() != resp.GetKeyId() || auth.GetRole() != tt.wantRole || auth.GetName() != strings.TrimSpace(tt.keyName) {
				t.Fatalf("AuthenticateAPIKey = %v", auth)
			}
		})
	}
}

func TestAuthenticateAPIKeyUnknown(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, key := range []string{"", "lak_unknown", e.roleKeys["billing"] + "x"} {
		_, err := e.svc.AuthenticateAPIKey(t.Context(), &tokensv1.AuthenticateAPIKeyRequest{Key: key})
		wantStatus(t, err, codes.Unauthenticated, "API_KEY_INVALID")
	}
}

// Secrets handed out by the RPCs never reach the database in plain text.
func TestSecretsNotStored(t *testing.T) {
	t.Parallel()
	e := start(t)
	_, tokenSecret := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 2})
	red, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: tokenSecret, WorkspaceId: "ws-1"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.admin.CreateAPIKey(t.Context(), &tokensv1.CreateAPIKeyRequest{Name: "k", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{tokenSecret, red.GetClientSecret(), key.GetKey(), serviceKey}
	for _, table := range []string{"registration_tokens", "redemptions", "client_credentials", "api_keys", "outbox"} {
		for _, s := range secrets {
			var n int
			q := `SELECT count(*) FROM ` + table + ` AS x WHERE strpos(x::text, $1) > 0`
			if err := e.pool.QueryRow(t.Context(), q, s).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("secret %.8s... stored in plain text in %s", s, table)
			}
		}
	}
}
