package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

func customersCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	name := fs.String("name", "", "customer name (required)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Registry.CreateCustomer(ctx, &registryv1.CreateCustomerRequest{Name: *name})
	if err != nil {
		return err
	}
	cu := resp.GetCustomer()
	return e.print(resp, []string{"ID", "NAME", "CREATED"}, [][]string{{cu.GetId(), cu.GetName(), ts(cu.GetCreatedAt())}})
}

func customersGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "CUSTOMER_ID")
	if err != nil {
		return err
	}
	resp, err := c.Registry.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: id})
	if err != nil {
		return err
	}
	cu := resp.GetCustomer()
	return e.print(resp, []string{"ID", "NAME", "CREATED"}, [][]string{{cu.GetId(), cu.GetName(), ts(cu.GetCreatedAt())}})
}

func tokensCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "customer id (required)")
	plan := fs.String("plan", "", "plan the first license is for (default: the free plan)")
	maxUses := fs.Int("max-uses", 1, "how many workspaces may register with the token")
	ttl := fs.Duration("ttl", 7*24*time.Hour, "how long the token is valid")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *maxUses < 1 {
		return usageError{"-max-uses must be at least 1"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Tokens.CreateRegistrationToken(ctx, &tokensv1.CreateRegistrationTokenRequest{
		CustomerId: *customer, PlanId: *plan, MaxUses: int32(*maxUses), TtlSeconds: int64(ttl.Seconds()),
	})
	if err != nil {
		return err
	}
	t := resp.GetToken()
	return e.print(resp, []string{"ID", "TOKEN", "CUSTOMER", "PLAN", "USES", "EXPIRES"},
		[][]string{{t.GetId(), resp.GetSecret(), t.GetCustomerId(), orDash(t.GetPlanId()), fmt.Sprintf("%d/%d", t.GetUses(), t.GetMaxUses()), ts(t.GetExpiresAt())}})
}

func tokensRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "TOKEN_ID")
	if err != nil {
		return err
	}
	resp, err := c.Tokens.RevokeRegistrationToken(ctx, &tokensv1.RevokeRegistrationTokenRequest{Id: id})
	if err != nil {
		return err
	}
	t := resp.GetToken()
	return e.print(resp, []string{"ID", "REVOKED"}, [][]string{{t.GetId(), ts(t.GetRevokedAt())}})
}

func apikeysCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	name := fs.String("name", "", "who the key is for (required)")
	role := fs.String("role", "", "admin, billing, support, operator-read or service (required)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Tokens.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: *name, Role: *role})
	if err != nil {
		return err
	}
	return e.print(resp, []string{"ID", "ROLE", "KEY"}, [][]string{{resp.GetKeyId(), resp.GetRole(), resp.GetKey()}})
}

func workspaceRow(w *registryv1.Workspace) []string {
	state := strings.ToLower(strings.TrimPrefix(w.GetState().String(), "WORKSPACE_STATE_"))
	return []string{w.GetId(), w.GetCustomerId(), state, orDash(w.GetAddress()), orDash(w.GetVersion()), ts(w.GetLastSyncedAt())}
}

var workspaceHeader = []string{"ID", "CUSTOMER", "STATE", "ADDRESS", "VERSION", "LAST SYNC"}

func workspacesGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "WORKSPACE_ID")
	if err != nil {
		return err
	}
	resp, err := c.Registry.GetWorkspace(ctx, &registryv1.GetWorkspaceRequest{Id: id})
	if err != nil {
		return err
	}
	return e.print(resp, workspaceHeader, [][]string{workspaceRow(resp.GetWorkspace())})
}

func workspacesList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "only this customer's workspaces")
	limit := fs.Int("limit", 100, "at most this many (<= 500)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Registry.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{CustomerId: *customer, PageSize: int32(*limit)})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, w := range resp.GetWorkspaces() {
		rows = append(rows, workspaceRow(w))
	}
	return e.print(resp, workspaceHeader, rows)
}

func plansList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.ListPlans(ctx, &signerv1.ListPlansRequest{})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, p := range resp.GetPlans() {
		rows = append(rows, []string{p.GetId(), p.GetName(), strconv.Itoa(int(p.GetVersion())), strconv.FormatBool(p.GetFree()), strconv.Itoa(len(p.GetModules()))})
	}
	return e.print(resp, []string{"ID", "NAME", "VERSION", "FREE", "MODULES"}, rows)
}

func licensesList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "WORKSPACE_ID")
	if err != nil {
		return err
	}
	resp, err := c.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: id})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, l := range resp.GetLicenses() {
		rows = append(rows, []string{strconv.FormatInt(l.GetSequence(), 10), l.GetId(), fmt.Sprintf("%s v%d", l.GetPlanId(), l.GetPlanVersion()), orDash(l.GetAddress()), l.GetKid(), ts(l.GetIssuedAt()), ts(l.GetExpiresAt())})
	}
	return e.print(resp, []string{"SEQ", "ID", "PLAN", "ADDRESS", "KID", "ISSUED", "EXPIRES"}, rows)
}

func syncGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "WORKSPACE_ID")
	if err != nil {
		return err
	}
	resp, err := c.Sync.GetSyncView(ctx, &syncv1.GetSyncViewRequest{WorkspaceId: id})
	if err != nil {
		return err
	}
	v := resp.GetView()
	return e.print(resp, []string{"WORKSPACE", "REVISION", "LICENSE SEQ", "ADDRESS", "REMOVE", "LAST SYNC"},
		[][]string{{v.GetWorkspaceId(), strconv.FormatInt(v.GetRevision(), 10), strconv.FormatInt(v.GetLicenseSequence(), 10), orDash(v.GetAddress()), strconv.FormatBool(v.GetRemoveLicense()), ts(v.GetLastSyncedAt())}})
}

func keysPublic(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	v2 := fs.Bool("v2", false, "print the PUBLIC_LICENSE_KEY_V2 value (base64 of the PEM) instead of the PEM")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{})
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.print(resp, nil, nil)
	}
	if *v2 {
		_, err = fmt.Fprintln(e.stdout, resp.GetPublicKeyV2())
		return err
	}
	_, err = fmt.Fprint(e.stdout, resp.GetPublicKeyPem())
	return err
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", usageError{"expected one argument: " + what}
	}
	return args[0], nil
}

func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
