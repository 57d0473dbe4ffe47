// Package signer asks the license signer for a workspace's current license
// and turns its answers into the sync service's domain terms.
package signer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// callTimeout bounds one EnsureLicense: a workspace that already holds a
// license is better served it at once than kept waiting on a slow signer.
const callTimeout = 5 * time.Second

// Client is the signer, seen from sync.
type Client struct {
	signer signerv1.SignerServiceClient
	log    *slog.Logger
}

// New returns a client over an established signer connection (one per
// process; calls share it).
func New(c signerv1.SignerServiceClient, log *slog.Logger) *Client {
	return &Client{signer: c, log: log}
}

// EnsureLicense returns the workspace's license bound to address, which the
// signer issues first when needed. Errors: domain.ErrWorkspaceNotFound, a
// validate.FieldError on "address" when the signer refuses the address,
// domain.ErrSignerUnavailable when the signer cannot answer now.
func (c *Client) EnsureLicense(ctx context.Context, workspaceID, address string) (domain.License, error) {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.signer.EnsureLicense(callCtx, &signerv1.EnsureLicenseRequest{WorkspaceId: workspaceID, Address: address})
	if err != nil {
		if ctx.Err() != nil {
			return domain.License{}, ctx.Err() // our caller gave up, the signer did not fail
		}
		return domain.License{}, c.classify(ctx, err)
	}
	l := resp.GetLicense()
	lic := domain.License{Sequence: l.GetSequence(), Token: l.GetToken(), Address: l.GetAddress()}.Normalize()
	if err := lic.Validate(); err != nil {
		return domain.License{}, fmt.Errorf("signer returned an unusable license: %w", err)
	}
	return lic, nil
}

func (c *Client) classify(ctx context.Context, err error) error {
	switch rpcerr.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w: %v", domain.ErrWorkspaceNotFound, err)
	case codes.InvalidArgument:
		return validate.Field("address", "refused by the license signer: %s", status.Convert(err).Message())
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return fmt.Errorf("%w: %v", domain.ErrSignerUnavailable, err)
	}
	// Anything else (a refused service key, a bug in the signer) is an
	// operator's problem: logged here, and to the workspace just an outage
	// its next sync retries. The status is not wrapped, so it cannot leak
	// through to the caller as if it were the caller's own.
	c.log.ErrorContext(ctx, "license signer failed", "error", err)
	return fmt.Errorf("%w: %v", domain.ErrSignerUnavailable, err)
}
