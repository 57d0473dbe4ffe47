package server_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/events"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// A workspace registered without a token gets credentials; a second issue
// replaces the first; the first access token marks the credential used;
// revocation makes the next token request invalid_client_credentials and is
// recorded once.
func TestWorkspaceCredentialsLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	ws := "0123456789abcdef01234567"

	first, err := e.svc.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{WorkspaceId: ws, ClientName: "Chat"})
	if err != nil || first.GetClientId() == "" || first.GetClientSecret() == "" || first.GetRevoked() != 0 {
		t.Fatalf("first issue = %v, %v", first, err)
	}
	second, err := e.svc.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{WorkspaceId: ws, ClientName: "Chat"})
	if err != nil || second.GetRevoked() != 1 {
		t.Fatalf("second issue = %v, %v; want the first revoked", second, err)
	}
	_, err = e.svc.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{ClientId: first.GetClientId(), ClientSecret: first.GetClientSecret()})
	wantStatus(t, err, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS")

	info, err := e.svc.GetClientCredential(ctx, &tokensv1.GetClientCredentialRequest{ClientId: second.GetClientId()})
	if err != nil || info.GetCredential().GetWorkspaceId() != ws || info.GetCredential().GetFirstUsedAt() != nil || info.GetCredential().GetRevokedAt() != nil {
		t.Fatalf("credential before use = %v, %v", info, err)
	}
	for range 2 {
		if _, err := e.svc.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{ClientId: second.GetClientId(), ClientSecret: second.GetClientSecret()}); err != nil {
			t.Fatalf("IssueAccessToken: %v", err)
		}
	}
	used, err := e.svc.GetClientCredential(ctx, &tokensv1.GetClientCredentialRequest{ClientId: second.GetClientId()})
	if err != nil || used.GetCredential().GetFirstUsedAt() == nil {
		t.Fatalf("credential after use = %v, %v; want first_used_at", used, err)
	}

	for i, want := range []int32{1, 0} {
		resp, err := e.svc.RevokeWorkspaceCredentials(ctx, &tokensv1.RevokeWorkspaceCredentialsRequest{WorkspaceId: ws})
		if err != nil || resp.GetRevoked() != want {
			t.Fatalf("revoke #%d = %v, %v; want %d revoked", i+1, resp, err, want)
		}
	}
	_, err = e.svc.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{ClientId: second.GetClientId(), ClientSecret: second.GetClientSecret()})
	wantStatus(t, err, codes.Unauthenticated, "INVALID_CLIENT_CREDENTIALS")

	// Two issues and one revocation: sequences 1, 2, 3 of the aggregate.
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE headers->>$1 = $2`, events.HeaderAggregateID, ws); n != 3 {
		t.Fatalf("%d outbox rows for the workspace, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = $1 AND headers->>$2 = '3'`, events.SubjectCredentialsRevoked, events.HeaderAggregateSeq); n != 1 {
		t.Fatalf("credentials.revoked with sequence 3: %d rows, want 1", n)
	}

	_, err = e.svc.GetClientCredential(ctx, &tokensv1.GetClientCredentialRequest{ClientId: "missing"})
	wantStatus(t, err, codes.NotFound, "CREDENTIAL_NOT_FOUND")
	_, err = e.svc.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{})
	wantField(t, err, "workspace_id")
}

// Multi-use tokens show their use count through Get and List.
func TestGetAndListRegistrationTokens(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	tok, secret := e.newToken(t, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 3})
	for _, ws := range []string{"ws-a", "ws-b"} {
		if _, err := e.svc.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: ws}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.billing.GetRegistrationToken(ctx, &tokensv1.GetRegistrationTokenRequest{Id: tok.GetId()})
	if err != nil || got.GetToken().GetUses() != 2 || got.GetToken().GetMaxUses() != 3 {
		t.Fatalf("GetRegistrationToken = %v, %v; want 2/3 uses", got, err)
	}
	list, err := e.billing.ListRegistrationTokens(ctx, &tokensv1.ListRegistrationTokensRequest{CustomerId: "cus_1"})
	if err != nil || len(list.GetTokens()) != 1 || list.GetTokens()[0].GetUses() != 2 {
		t.Fatalf("ListRegistrationTokens = %v, %v", list, err)
	}
	_, err = e.billing.GetRegistrationToken(ctx, &tokensv1.GetRegistrationTokenRequest{Id: "rtk_missing"})
	wantStatus(t, err, codes.NotFound, "REGISTRATION_TOKEN_NOT_FOUND")
	_, err = e.billing.ListRegistrationTokens(ctx, &tokensv1.ListRegistrationTokensRequest{PageSize: 501})
	wantField(t, err, "page_size")
}

func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
