package server_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// The token service's secret parsers are lookups by hash: these targets feed
// arbitrary strings to each, against a real store holding genuine secrets,
// and fail when anything but the genuine secret is accepted or when a refusal
// is not the documented one.

// fuzzWorkspace gives each redemption its own workspace id, since a workspace
// redeems once.
var fuzzWorkspace atomic.Int64

func FuzzRedeemRegistrationToken(f *testing.F) {
	e := start(f)
	_, genuine := e.newToken(f, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1", MaxUses: 100000})
	for _, s := range []string{genuine, genuine[:len(genuine)-1], genuine + "A", "rt_", "", "rt_" + genuine[3:] + "\x00", " " + genuine, "RT_" + genuine[3:], "'; DROP TABLE registration_tokens; --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		ws := "fuzz-" + strconv.FormatInt(fuzzWorkspace.Add(1), 10)
		_, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: ws, ClientName: "Chat"})
		switch {
		case err == nil && secret != genuine:
			t.Fatalf("registration token %q accepted; only the genuine one may be", secret)
		case err == nil:
		case secret == genuine:
			t.Fatalf("the genuine token was refused: %v", err)
		case rpcerr.Code(err) == codes.InvalidArgument:
			// An empty or malformed request is named, not looked up.
		case rpcerr.Reason(err) != "REGISTRATION_TOKEN_UNKNOWN":
			t.Fatalf("token %q: %v, want REGISTRATION_TOKEN_UNKNOWN", secret, err)
		}
	})
}

func FuzzIssueAccessToken(f *testing.F) {
	e := start(f)
	creds, err := e.svc.IssueWorkspaceCredentials(f.Context(), &tokensv1.IssueWorkspaceCredentialsRequest{WorkspaceId: "0123456789abcdef01234567", ClientName: "Chat"})
	if err != nil {
		f.Fatal(err)
	}
	id, secret := creds.GetClientId(), creds.GetClientSecret()
	f.Add(id, secret)
	f.Add(id, secret[:len(secret)-1])
	f.Add(id, "")
	f.Add("", secret)
	f.Add(id+" ", secret)
	f.Add(secret, id)
	f.Add(id, "cs_"+secret)
	f.Fuzz(func(t *testing.T, clientID, clientSecret string) {
		_, err := e.svc.IssueAccessToken(t.Context(), &tokensv1.IssueAccessTokenRequest{ClientId: clientID, ClientSecret: clientSecret})
		genuine := clientID == id && clientSecret == secret
		switch {
		case err == nil && !genuine:
			t.Fatalf("client %q with secret %q accepted", clientID, clientSecret)
		case err != nil && genuine:
			t.Fatalf("the genuine credentials were refused: %v", err)
		case err != nil && rpcerr.Code(err) != codes.InvalidArgument && rpcerr.Reason(err) != "INVALID_CLIENT_CREDENTIALS":
			t.Fatalf("client %q: %v, want INVALID_CLIENT_CREDENTIALS", clientID, err)
		}
	})
}

func FuzzAuthenticateAPIKey(f *testing.F) {
	e := start(f)
	known := map[string]string{}
	for role, key := range e.roleKeys {
		if key != serviceKey { // the service key is recognised by the interceptor, not stored
			known[key] = string(role)
			f.Add(key)
			f.Add(key[:len(key)-1])
		}
	}
	f.Add("")
	f.Add("lak_")
	f.Add(serviceKey)
	f.Fuzz(func(t *testing.T, key string) {
		resp, err := e.svc.AuthenticateAPIKey(t.Context(), &tokensv1.AuthenticateAPIKeyRequest{Key: key})
		role, genuine := known[key]
		switch {
		case err == nil && (!genuine || resp.GetRole() != role):
			t.Fatalf("API key %q accepted as %q", key, resp.GetRole())
		case err != nil && genuine:
			t.Fatalf("the genuine %s key was refused: %v", role, err)
		case err != nil && rpcerr.Code(err) != codes.InvalidArgument && rpcerr.Code(err) != codes.Unauthenticated && rpcerr.Code(err) != codes.NotFound:
			t.Fatalf("key %q: %v, want a refusal", key, err)
		}
	})
}
