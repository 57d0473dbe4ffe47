package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// GetSupportedVersions implements the RPC: the supported-versions document
// of every recorded release under the version policy, signed now with the
// active license key and queued for the issuance log.
//
// For a workspace (workspace_id), the document also carries the exceptions
// in force for it: its customer's and those of its licenses.
func (s *Server) GetSupportedVersions(ctx context.Context, req *signerv1.GetSupportedVersionsRequest) (*signerv1.GetSupportedVersionsResponse, error) {
	releases, err := s.store.Releases(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	policy, err := s.store.VersionPolicy(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	key, err := s.keys.Active(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	now := time.Now()
	doc := domain.NewSupportedVersions(releases, policy, now)
	if ws := req.GetWorkspaceId(); ws != "" {
		if doc, err = s.forWorkspace(ctx, doc, releases, req); err != nil {
			return nil, s.errs.Map(ctx, err)
		}
		if doc.Exceptions == nil {
			// Nothing of its own: no signature (nor log entry) for a
			// request the shared document answers.
			return &signerv1.GetSupportedVersionsResponse{Shared: true}, nil
		}
	}
	document, signed, err := domain.SignSupportedVersions(doc, now, key)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	// Nothing signed leaves the signer unlogged.
	if err := s.store.LogArtifact(ctx, tlog.Leaf{Kind: tlog.KindSupportedVersions, ArtifactSHA256: tlog.ArtifactHash(signed)}); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &signerv1.GetSupportedVersionsResponse{DocumentJson: string(document), Signed: signed}
	for _, r := range releases {
		resp.Releases = append(resp.Releases, releasePB(r, policy))
	}
	return resp, nil
}

// RecordRelease implements the RPC.
func (s *Server) RecordRelease(ctx context.Context, req *signerv1.RecordReleaseRequest) (*signerv1.RecordReleaseResponse, error) {
	in := domain.Release{Version: req.GetVersion(), SupportMonths: int(req.GetSupportMonths())}
	if req.GetReleasedAt() != nil {
		in.ReleasedAt = req.GetReleasedAt().AsTime()
	}
	in, err := domain.CheckRelease(in)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	r, err := s.store.RecordRelease(ctx, in)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	policy, err := s.store.VersionPolicy(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.RecordReleaseResponse{Release: releasePB(r, policy)}, nil
}

// releasePB shows a release with the window it has under policy (its own,
// or the policy's default).
func releasePB(r domain.Release, policy domain.VersionPolicy) *signerv1.Release {
	months := r.SupportMonths
	if months == 0 {
		months = policy.DefaultSupportMonths
	}
	return &signerv1.Release{
		Version: r.Version, ReleasedAt: timestamppb.New(r.ReleasedAt), SupportMonths: int32(months),
		Expiration: timestamppb.New(policy.Expiration(r)), UpdatedAt: timestamppb.New(r.UpdatedAt),
	}
}

// forWorkspace adds to doc the exceptions in force for the request's
// workspace.
func (s *Server) forWorkspace(ctx context.Context, doc domain.SupportedVersions, releases []domain.Release, req *signerv1.GetSupportedVersionsRequest) (domain.SupportedVersions, error) {
	if err := domain.CheckWorkspaceID(req.GetWorkspaceId()); err != nil {
		return doc, err
	}
	if len(req.GetUniqueId()) > 256 || len(req.GetDomain()) > 512 {
		return doc, errors.Join(validate.Field("unique_id", "at most 256 bytes"), validate.Field("domain", "at most 512 bytes"))
	}
	customer, err := s.store.WorkspaceCustomer(ctx, req.GetWorkspaceId())
	if err != nil {
		return doc, err
	}
	all, err := s.store.VersionExceptions(ctx, "", false)
	if err != nil {
		return doc, err
	}
	var mine []domain.VersionException
	for _, e := range all {
		if (customer != "" && e.CustomerID == customer) || e.WorkspaceID == req.GetWorkspaceId() {
			mine = append(mine, e)
		}
	}
	return doc.WithExceptions(req.GetDomain(), req.GetUniqueId(), releases, mine), nil
}
