package server_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/authn/authntest"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/services/registry/internal/server"
)

func TestPolicyListsEveryMethod(t *testing.T) {
	t.Parallel()
	if missing := server.Policy.MissingMethods(registryv1.RegistryService_ServiceDesc); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
}

// TestAuthorization calls every RPC as every role; the expectations are the
// roles each RPC's documentation names (admin may call everything).
func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t)
	cus := e.customer(t, "Acme")
	rpcs := []struct {
		method string
		roles  []authn.Role // besides admin
		call   func(context.Context, registryv1.RegistryServiceClient) error
	}{
		{registryv1.RegistryService_CreateCustomer_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: "Globex"})
				return err
			}},
		{registryv1.RegistryService_GetCustomer_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: cus})
				return err
			}},
		{registryv1.RegistryService_RegisterWithToken_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				// Invalid on purpose: an allowed caller gets InvalidArgument
				// and no workspace is made.
				_, err := c.RegisterWithToken(ctx, &registryv1.RegisterWithTokenRequest{})
				return err
			}},
		{registryv1.RegistryService_GetWorkspace_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.GetWorkspace(ctx, &registryv1.GetWorkspaceRequest{Id: "ws-missing"})
				return err
			}},
		{registryv1.RegistryService_ListWorkspaces_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{})
				return err
			}},
		// Invalid on purpose below: an allowed caller gets InvalidArgument
		// or NotFound, and nothing is written.
		{registryv1.RegistryService_CreateIntent_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.CreateIntent(ctx, &registryv1.CreateIntentRequest{})
				return err
			}},
		{registryv1.RegistryService_PollIntent_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.PollIntent(ctx, &registryv1.PollIntentRequest{})
				return err
			}},
		{registryv1.RegistryService_GetIntentByCode_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.GetIntentByCode(ctx, &registryv1.GetIntentByCodeRequest{Code: "cc_unknown"})
				return err
			}},
		{registryv1.RegistryService_ConfirmIntent_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.ConfirmIntent(ctx, &registryv1.ConfirmIntentRequest{Code: "cc_unknown"})
				return err
			}},
		{registryv1.RegistryService_RejectIntent_FullMethodName, []authn.Role{authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.RejectIntent(ctx, &registryv1.RejectIntentRequest{})
				return err
			}},
		{registryv1.RegistryService_DeregisterWorkspace_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: "ws-missing"})
				return err
			}},
		{registryv1.RegistryService_RegisterOffline_FullMethodName, []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleService},
			func(ctx context.Context, c registryv1.RegistryServiceClient) error {
				_, err := c.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: "not base64!", CustomerId: cus})
				return err
			}},
	}
	if len(rpcs) != len(registryv1.RegistryService_ServiceDesc.Methods) {
		t.Fatalf("the table covers %d RPCs, the service has %d", len(rpcs), len(registryv1.RegistryService_ServiceDesc.Methods))
	}
	callers := []struct {
		name   string
		role   authn.Role
		client registryv1.RegistryServiceClient
	}{
		{"admin", authn.RoleAdmin, e.as("admin-key")},
		{"billing", authn.RoleBilling, e.as("billing-key")},
		{"support", authn.RoleSupport, e.as("support-key")},
		{"operator-read", authn.RoleOperatorRead, e.as("operator-key")},
		{"service", authn.RoleService, e.as(serviceKey)},
		{"no key", "", e.dial()},
		{"bad key", "", e.as("not-a-key")},
	}
	for _, rpc := range rpcs {
		for _, c := range callers {
			t.Run(rpc.method+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				want := authntest.Denied
				switch {
				case c.role == "":
					want = authntest.Unauthenticated
				case c.role == authn.RoleAdmin || slices.Contains(rpc.roles, c.role):
					want = authntest.Allowed
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
	t.Cleanup(func() {
		if redeemed, _ := e.tokens.calls(); len(redeemed) != 0 {
			t.Errorf("the token service was asked to redeem %d times", len(redeemed))
		}
	})
}
