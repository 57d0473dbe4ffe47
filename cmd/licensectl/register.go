package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

var tokenHeader = []string{"ID", "CUSTOMER", "PLAN", "USES", "EXPIRES", "REVOKED", "CREATED"}

func tokenRow(t *tokensv1.RegistrationToken) []string {
	return []string{t.GetId(), t.GetCustomerId(), orDash(t.GetPlanId()), fmt.Sprintf("%d/%d", t.GetUses(), t.GetMaxUses()),
		ts(t.GetExpiresAt()), ts(t.GetRevokedAt()), ts(t.GetCreatedAt())}
}

func tokensGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "TOKEN_ID")
	if err != nil {
		return err
	}
	resp, err := c.Tokens.GetRegistrationToken(ctx, &tokensv1.GetRegistrationTokenRequest{Id: id})
	if err != nil {
		return err
	}
	return e.print(resp, tokenHeader, [][]string{tokenRow(resp.GetToken())})
}

func tokensList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "only this customer's tokens")
	limit := fs.Int("limit", 100, "at most this many (<= 500)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return usageError{"unexpected argument " + strconv.Quote(fs.Args()[0])}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Tokens.ListRegistrationTokens(ctx, &tokensv1.ListRegistrationTokensRequest{CustomerId: *customer, PageSize: int32(*limit)})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, t := range resp.GetTokens() {
		rows = append(rows, tokenRow(t))
	}
	return e.print(resp, tokenHeader, rows)
}

func workspacesDeregister(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	reason := fs.String("reason", "", "why (kept in the registry's log)")
	id, c, err := e.argAndAPI(fs, args, "WORKSPACE_ID")
	if err != nil {
		return err
	}
	resp, err := c.Registry.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: id, Reason: *reason})
	if err != nil {
		return err
	}
	row := append(workspaceRow(resp.GetWorkspace()), strconv.Itoa(int(resp.GetCredentialsRevoked())))
	return e.print(resp, append(append([]string{}, workspaceHeader...), "CREDENTIALS REVOKED"), [][]string{row})
}

// maxClientKeyInput bounds what register-offline reads; a real client key
// is a few KiB.
const maxClientKeyInput = 1 << 20

// registerOffline reads an air-gapped workspace's client key from a file or
// stdin and prints the cloud blob to paste into the workspace (stdout, one
// line); a summary goes to stderr. With -o json it prints the whole answer.
func registerOffline(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "the customer the workspace belongs to (required)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*customer) == "" {
		return usageError{"-customer is required"}
	}
	var in io.Reader
	switch a := fs.Args(); {
	case len(a) > 1:
		return usageError{"expected at most one argument: FILE or - (stdin)"}
	case len(a) == 0 || a[0] == "-":
		in = e.stdin
	default:
		f, err := os.Open(a[0])
		if err != nil {
			return fmt.Errorf("client key: %w", err)
		}
		defer f.Close()
		in = f
	}
	key, err := io.ReadAll(io.LimitReader(in, maxClientKeyInput+1))
	if err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	if len(key) > maxClientKeyInput {
		return fmt.Errorf("client key: larger than %d bytes; a client key is a few KiB", maxClientKeyInput)
	}
	if strings.TrimSpace(string(key)) == "" {
		return usageError{"client key: empty input"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Registry.RegisterOffline(ctx, &registryv1.RegisterOfflineRequest{ClientKey: string(key), CustomerId: *customer})
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.print(resp, nil, nil)
	}
	w := resp.GetWorkspace()
	fmt.Fprintf(e.stderr, "registered workspace %s (%s) for customer %s; offline license: %t\n", w.GetId(), w.GetAddress(), w.GetCustomerId(), resp.GetOffline())
	_, err = fmt.Fprintln(e.stdout, resp.GetCloudBlob())
	return err
}
