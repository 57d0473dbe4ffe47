package server_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/authn/authntest"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/server"
)

func TestPolicyListsEveryMethod(t *testing.T) {
	t.Parallel()
	if missing := server.Policy.MissingMethods(tokensv1.TokenService_ServiceDesc, keysv1.KeyService_ServiceDesc); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
}

// TestAuthorization calls every RPC as every role. The expectations are the
// roles each RPC's documentation names (admin may call everything); calls
// are chosen so an allowed caller gets OK or a domain error, never a refusal.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t)
	rpcs := []struct {
		method string
		roles  []authn.Role // besides admin
		call   func(context.Context, tokensv1.TokenServiceClient) error
	}{
		{tokensv1.TokenService_CreateRegistrationToken_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.CreateRegistrationToken(ctx, &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1"})
				return err
			}},
		{tokensv1.TokenService_RevokeRegistrationToken_FullMethodName, []authn.Role{authn.RoleBilling},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.RevokeRegistrationToken(ctx, &tokensv1.RevokeRegistrationTokenRequest{Id: "rtk_missing"})
				return err
			}},
		{tokensv1.TokenService_RedeemRegistrationToken_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.RedeemRegistrationToken(ctx, &tokensv1.RedeemRegistrationTokenRequest{})
				return err
			}},
		{tokensv1.TokenService_ReleaseRedemption_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.ReleaseRedemption(ctx, &tokensv1.ReleaseRedemptionRequest{WorkspaceId: "ws-none"})
				return err
			}},
		{tokensv1.TokenService_IssueAccessToken_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.IssueAccessToken(ctx, &tokensv1.IssueAccessTokenRequest{})
				return err
			}},
		{tokensv1.TokenService_GetAccessTokenKeys_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.GetAccessTokenKeys(ctx, &tokensv1.GetAccessTokenKeysRequest{})
				return err
			}},
		{tokensv1.TokenService_AuthenticateAPIKey_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.AuthenticateAPIKey(ctx, &tokensv1.AuthenticateAPIKeyRequest{Key: e.roleKeys[authn.RoleSupport]})
				return err
			}},
		{tokensv1.TokenService_CreateAPIKey_FullMethodName, nil,
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "made in a test", Role: "support"})
				return err
			}},
		{tokensv1.TokenService_GetRegistrationToken_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.GetRegistrationToken(ctx, &tokensv1.GetRegistrationTokenRequest{Id: "rtk_missing"})
				return err
			}},
		{tokensv1.TokenService_ListRegistrationTokens_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.ListRegistrationTokens(ctx, &tokensv1.ListRegistrationTokensRequest{CustomerId: "cus_none"})
				return err
			}},
		{tokensv1.TokenService_IssueWorkspaceCredentials_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				// Invalid on purpose: an allowed caller gets InvalidArgument.
				_, err := c.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{})
				return err
			}},
		{tokensv1.TokenService_RevokeWorkspaceCredentials_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.RevokeWorkspaceCredentials(ctx, &tokensv1.RevokeWorkspaceCredentialsRequest{WorkspaceId: "ws-none"})
				return err
			}},
		{tokensv1.TokenService_GetClientCredential_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c tokensv1.TokenServiceClient) error {
				_, err := c.GetClientCredential(ctx, &tokensv1.GetClientCredentialRequest{ClientId: "missing"})
				return err
			}},
	}
	if len(rpcs) != len(tokensv1.TokenService_ServiceDesc.Methods) {
		t.Fatalf("the table covers %d RPCs, the service has %d", len(rpcs), len(tokensv1.TokenService_ServiceDesc.Methods))
	}

	callers := []struct {
		name   string
		role   authn.Role // empty: no valid key
		client tokensv1.TokenServiceClient
	}{
		{"admin", authn.RoleAdmin, e.as(e.roleKeys[authn.RoleAdmin])},
		{"billing", authn.RoleBilling, e.as(e.roleKeys[authn.RoleBilling])},
		{"support", authn.RoleSupport, e.as(e.roleKeys[authn.RoleSupport])},
		{"operator-read", authn.RoleOperatorRead, e.as(e.roleKeys[authn.RoleOperatorRead])},
		{"service", authn.RoleService, e.as(serviceKey)},
		{"no key", "", e.conn()},
		{"bad key", "", e.as("lak_not-a-real-key")},
	}
	for _, rpc := range rpcs {
		for _, c := range callers {
			t.Run(rpc.method+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				var want authntest.Outcome
				switch {
				case c.role == "":
					want = authntest.Unauthenticated
				case c.role == authn.RoleAdmin || slices.Contains(rpc.roles, c.role):
					want = authntest.Allowed
				default:
					want = authntest.Denied
				}
				err := rpc.call(t.Context(), c.client)
				if got := authntest.Classify(err); got != want {
					t.Fatalf("%s as %s: %s (%v), want %s", rpc.method, c.name, got, err, want)
				}
				if want == authntest.Allowed && !slices.Contains([]codes.Code{codes.OK, codes.InvalidArgument, codes.NotFound}, rpcerr.Code(err)) {
					t.Fatalf("%s as %s: unexpected %v", rpc.method, c.name, err)
				}
			})
		}
	}
}

// A key created by CreateAPIKey authenticates with its role right away, and
// only with that role.
func TestCreatedKeyAuthenticatesCalls(t *testing.T) {
	t.Parallel()
	e := start(t)
	resp, err := e.admin.CreateAPIKey(t.Context(), &tokensv1.CreateAPIKeyRequest{Name: "new billing", Role: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.as(resp.GetKey())
	if _, err := c.CreateRegistrationToken(t.Context(), &tokensv1.CreateRegistrationTokenRequest{CustomerId: "cus_1"}); err != nil {
		t.Fatalf("billing call with the new key: %v", err)
	}
	if _, err := c.CreateAPIKey(t.Context(), &tokensv1.CreateAPIKeyRequest{Name: "escalate", Role: "admin"}); rpcerr.Code(err) != codes.PermissionDenied {
		t.Fatalf("billing key creating an admin key: %v, want PermissionDenied", err)
	}
}
