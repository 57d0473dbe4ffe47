package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// ReasonUnsupportedVersion: the workspace runs a version that is no longer
// supported, and registration refuses it (the gateway answers 403
// unsupported_version with the message).
const ReasonUnsupportedVersion = "UNSUPPORTED_VERSION"

// versionCheckTimeout bounds the signer's verdict on a registration.
const versionCheckTimeout = 3 * time.Second

// checkVersion refuses a registration whose version the signer's policy
// refuses, with the message the workspace shows its admin. Registration is
// not the hot path, so the signer decides (it knows the customer's
// exceptions). When the signer cannot answer, the registration goes on: the
// first sync checks again.
func (s *Server) checkVersion(ctx context.Context, customerID, version string) error {
	if s.opts.Versions == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, versionCheckTimeout)
	defer cancel()
	resp, err := s.opts.Versions.CheckVersion(cctx, &signerv1.CheckVersionRequest{CustomerId: customerID, Version: version})
	if err != nil {
		s.log.WarnContext(ctx, "version check unavailable; registering without it", "error", err)
		return nil
	}
	if !resp.GetRefused() {
		return nil
	}
	return rpcerr.New(codes.FailedPrecondition, errDomain, ReasonUnsupportedVersion, resp.GetMessage(), nil)
}
