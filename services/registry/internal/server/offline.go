package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

// cloudBlob is what an air-gapped workspace applies (PROTOCOL.md 8).
type cloudBlob struct {
	WorkspaceID           string      `json:"workspaceId"`
	ClientName            string      `json:"client_name"`
	ClientID              string      `json:"client_id"`
	ClientSecret          string      `json:"client_secret"`
	ClientSecretExpiresAt int64       `json:"client_secret_expires_at"`
	PublicKey             string      `json:"publicKey"`
	RegistrationClientURI string      `json:"registration_client_uri"`
	LicenseData           blobLicense `json:"licenseData"`
}

type blobLicense struct {
	License string `json:"license"`
}

// RegisterOffline implements the RPC. The credentials are issued first for
// the new workspace id (an orphan credential is harmless and revoked if the
// workspace cannot be stored), then the workspace with workspace.registered,
// then the offline license.
func (s *Server) RegisterOffline(ctx context.Context, req *registryv1.RegisterOfflineRequest) (*registryv1.RegisterOfflineResponse, error) {
	data, err := domain.ParseClientKey(req.GetClientKey())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	customerID := strings.TrimSpace(req.GetCustomerId())
	if customerID == "" {
		return nil, s.errs.Map(ctx, validate.Field("customer_id", "required"))
	}
	if _, err := s.store.Customer(ctx, customerID); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if err := s.checkVersion(ctx, customerID, data.Version); err != nil {
		return nil, err
	}
	if s.opts.PublicURL == "" {
		return nil, s.errs.Map(ctx, domain.ErrPublicURL)
	}
	id := domain.NewWorkspaceID()
	creds, err := s.tokens.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{WorkspaceId: id, ClientName: data.SiteName})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	w, err := s.store.CreateRegisteredWorkspace(ctx, domain.Workspace{
		ID: id, CustomerID: customerID, ClientName: data.SiteName, ContactEmail: data.ContactEmail,
		UniqueID: data.UniqueID, Address: data.Address, Version: data.Version,
	})
	if err != nil {
		s.revoke(ctx, id)
		return nil, s.errs.Map(ctx, err)
	}
	lic, err := s.offlineLicense(ctx, w, data.Address)
	if err != nil {
		s.log.ErrorContext(ctx, "offline registration without a license", "workspace_id", id, "error", err)
		return nil, s.errs.Map(ctx, err)
	}
	pub, err := s.opts.Signer.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	blob, err := json.Marshal(cloudBlob{
		WorkspaceID: id, ClientName: data.SiteName, ClientID: creds.GetClientId(), ClientSecret: creds.GetClientSecret(),
		PublicKey: pub.GetPublicKeyPem(), RegistrationClientURI: strings.TrimRight(s.opts.PublicURL, "/") + "/api/v2/workspaces/" + id,
		LicenseData: blobLicense{License: lic.GetToken()},
	})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.RegisterOfflineResponse{
		Workspace: workspacePB(w), ClientId: creds.GetClientId(), ClientSecret: creds.GetClientSecret(),
		License: lic.GetToken(), CloudBlob: base64.StdEncoding.EncodeToString(blob), Offline: lic.GetOffline(),
	}, nil
}

// offlineLicense asks the signer for the workspace's offline license. The
// signer may not have heard of the workspace yet (workspace.registered is
// on its way), so NOT_FOUND and outages are retried until LicenseWait.
// A signer without IssueOfflineLicense is asked for the ordinary first
// license instead.
func (s *Server) offlineLicense(ctx context.Context, w domain.Workspace, address string) (*signerv1.License, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LicenseWait)
	defer cancel()
	offline := true
	for {
		var lic *signerv1.License
		var err error
		if offline {
			var resp *signerv1.IssueOfflineLicenseResponse
			resp, err = s.opts.Signer.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{
				IdempotencyKey: "offline-registration-" + w.ID, WorkspaceId: w.ID, CustomerId: w.CustomerID, Address: address,
			})
			lic = resp.GetLicense()
			if rpcerr.Code(err) == codes.Unimplemented {
				offline = false
				continue
			}
		} else {
			var resp *signerv1.EnsureLicenseResponse
			resp, err = s.opts.Signer.EnsureLicense(ctx, &signerv1.EnsureLicenseRequest{WorkspaceId: w.ID, Address: address})
			lic = resp.GetLicense()
		}
		if err == nil {
			return lic, nil
		}
		switch rpcerr.Code(err) {
		case codes.NotFound, codes.Unavailable:
		default:
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) revoke(ctx context.Context, workspaceID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.tokens.RevokeWorkspaceCredentials(ctx, &tokensv1.RevokeWorkspaceCredentialsRequest{WorkspaceId: workspaceID}); err != nil {
		s.log.ErrorContext(ctx, "revoke credentials after a failed registration", "workspace_id", workspaceID, "error", err)
	}
}

// DeregisterWorkspace implements the RPC. The credentials are revoked
// first (idempotent), so a failure afterwards leaves a workspace that can no
// longer get tokens and a retry that completes the deregistration.
func (s *Server) DeregisterWorkspace(ctx context.Context, req *registryv1.DeregisterWorkspaceRequest) (*registryv1.DeregisterWorkspaceResponse, error) {
	id := strings.TrimSpace(req.GetId())
	if id == "" {
		return nil, s.errs.Map(ctx, validate.Field("id", "required"))
	}
	if len(req.GetReason()) > 500 {
		return nil, s.errs.Map(ctx, validate.Field("reason", "longer than 500 characters"))
	}
	if _, err := s.store.Workspace(ctx, id); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	rev, err := s.tokens.RevokeWorkspaceCredentials(ctx, &tokensv1.RevokeWorkspaceCredentialsRequest{WorkspaceId: id})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	w, changed, err := s.store.Deregister(ctx, id)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if changed {
		s.log.InfoContext(ctx, "workspace deregistered", "workspace_id", id, "reason", req.GetReason(), "credentials_revoked", rev.GetRevoked())
	}
	return &registryv1.DeregisterWorkspaceResponse{Workspace: workspacePB(w), CredentialsRevoked: rev.GetRevoked()}, nil
}
