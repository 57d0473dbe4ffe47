package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/issuance"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// VersionPolicy implements signerv1.VersionPolicyServiceServer.
type VersionPolicy struct {
	signerv1.UnimplementedVersionPolicyServiceServer
	store *store.Store
	errs  rpcerr.Mapper
	now   func() time.Time
}

// NewVersionPolicy returns the server; now is its clock (time.Now in
// production, a fixed instant in tests of the window's edges).
func NewVersionPolicy(st *store.Store, log *slog.Logger, now func() time.Time) *VersionPolicy {
	return &VersionPolicy{store: st, errs: newMapper(log), now: now}
}

// policy reads everything the decision needs.
func (s *VersionPolicy) policy(ctx context.Context) (domain.VersionPolicy, []domain.Release, []domain.VersionException, error) {
	p, err := s.store.VersionPolicy(ctx)
	if err != nil {
		return p, nil, nil, err
	}
	releases, err := s.store.Releases(ctx)
	if err != nil {
		return p, nil, nil, err
	}
	exceptions, err := s.store.VersionExceptions(ctx, "", false)
	return p, releases, exceptions, err
}

// GetVersionPolicy implements the RPC.
func (s *VersionPolicy) GetVersionPolicy(ctx context.Context, _ *signerv1.GetVersionPolicyRequest) (*signerv1.GetVersionPolicyResponse, error) {
	p, releases, exceptions, err := s.policy(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.GetVersionPolicyResponse{Policy: policyPB(p, releases, exceptions)}, nil
}

// SetVersionPolicy implements the RPC.
func (s *VersionPolicy) SetVersionPolicy(ctx context.Context, req *signerv1.SetVersionPolicyRequest) (*signerv1.SetVersionPolicyResponse, error) {
	c := domain.PolicyChange{DefaultSupportMonths: int(req.GetDefaultSupportMonths()), NeverEnforce: req.GetNeverEnforce()}
	if req.GetEnforceFrom() != nil {
		if err := req.GetEnforceFrom().CheckValid(); err != nil {
			return nil, s.errs.Map(ctx, validate.Field("enforce_from", "%s", err.Error()))
		}
		c.EnforceFrom = req.GetEnforceFrom().AsTime()
	}
	if _, err := s.store.ChangeVersionPolicy(ctx, c); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	p, releases, exceptions, err := s.policy(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.SetVersionPolicyResponse{Policy: policyPB(p, releases, exceptions)}, nil
}

// AddVersionException implements the RPC.
func (s *VersionPolicy) AddVersionException(ctx context.Context, req *signerv1.AddVersionExceptionRequest) (*signerv1.AddVersionExceptionResponse, error) {
	in := domain.NewException{CustomerID: req.GetCustomerId(), LicenseID: req.GetLicenseId(), Version: req.GetVersion(), Reason: req.GetReason()}
	var errs []error
	if req.GetUntil() != nil {
		if err := req.GetUntil().CheckValid(); err != nil {
			errs = append(errs, validate.Field("until", "%s", err.Error()))
		} else {
			in.Until = req.GetUntil().AsTime()
		}
	}
	idem := issuance.Idempotency{Key: req.GetIdempotencyKey()}
	e, err := in.Check(s.now())
	if err := errors.Join(append(errs, idem.Check(), err)...); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	// The key is bound to the request as sent, so a retry that changes any
	// field is refused rather than silently answered with the first one.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	hash := sha256.Sum256(b)
	out, _, err := s.store.AddVersionException(ctx, req.GetIdempotencyKey(), hash[:], e)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.AddVersionExceptionResponse{Exception: exceptionPB(out)}, nil
}

// RemoveVersionException implements the RPC.
func (s *VersionPolicy) RemoveVersionException(ctx context.Context, req *signerv1.RemoveVersionExceptionRequest) (*signerv1.RemoveVersionExceptionResponse, error) {
	if req.GetId() == "" {
		return nil, s.errs.Map(ctx, validate.Field("id", "required"))
	}
	out, err := s.store.RemoveVersionException(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.RemoveVersionExceptionResponse{Exception: exceptionPB(out)}, nil
}

// ListVersionExceptions implements the RPC.
func (s *VersionPolicy) ListVersionExceptions(ctx context.Context, req *signerv1.ListVersionExceptionsRequest) (*signerv1.ListVersionExceptionsResponse, error) {
	list, err := s.store.VersionExceptions(ctx, req.GetCustomerId(), req.GetIncludeRemoved())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &signerv1.ListVersionExceptionsResponse{}
	for _, e := range list {
		resp.Exceptions = append(resp.Exceptions, exceptionPB(e))
	}
	return resp, nil
}

// CheckVersion implements the RPC. The caller's customer_id wins over the one
// the signer knows (a registration not yet bound to a workspace has only
// the customer, or nothing: then no exception applies).
func (s *VersionPolicy) CheckVersion(ctx context.Context, req *signerv1.CheckVersionRequest) (*signerv1.CheckVersionResponse, error) {
	var errs []error
	if req.GetWorkspaceId() != "" {
		errs = append(errs, domain.CheckWorkspaceID(req.GetWorkspaceId()))
	}
	if len(req.GetVersion()) > 64 {
		errs = append(errs, validate.Field("version", "longer than 64 characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	who := versionpolicy.Who{WorkspaceID: req.GetWorkspaceId(), CustomerID: req.GetCustomerId(), CustomerKnown: true}
	if who.CustomerID == "" && who.WorkspaceID != "" {
		c, err := s.store.WorkspaceCustomer(ctx, who.WorkspaceID)
		if err != nil {
			return nil, s.errs.Map(ctx, err)
		}
		who.CustomerID = c
	}
	p, releases, exceptions, err := s.policy(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	d := p.Rules(releases, exceptions).Decide(req.GetVersion(), who, s.now())
	return CheckVersionPB(req.GetVersion(), d), nil
}

// CheckVersionPB is the decision on version as CheckVersion answers it.
func CheckVersionPB(version string, d versionpolicy.Decision) *signerv1.CheckVersionResponse {
	resp := &signerv1.CheckVersionResponse{Supported: d.Supported, Refused: d.Refused, Line: d.Line}
	if v, err := versionpolicy.ParseVersion(version); err == nil {
		resp.Line = v.Line() // the decision names the line only when refusing
	}
	if !d.Expiration.IsZero() {
		resp.Expiration = timestamppb.New(d.Expiration)
	}
	if d.Exception != nil {
		resp.ExceptionId = d.Exception.ID
	}
	if !d.Supported {
		resp.Message = d.Message()
	}
	return resp
}

func policyPB(p domain.VersionPolicy, releases []domain.Release, exceptions []domain.VersionException) *signerv1.VersionPolicy {
	out := &signerv1.VersionPolicy{DefaultSupportMonths: int32(p.DefaultSupportMonths)}
	newest := p.UpdatedAt
	if !p.EnforceFrom.IsZero() {
		out.EnforceFrom = timestamppb.New(p.EnforceFrom)
	}
	for _, r := range releases {
		out.Releases = append(out.Releases, releasePB(r, p))
		if r.UpdatedAt.After(newest) {
			newest = r.UpdatedAt
		}
	}
	for _, e := range exceptions {
		out.Exceptions = append(out.Exceptions, exceptionPB(e))
		if e.CreatedAt.After(newest) {
			newest = e.CreatedAt
		}
	}
	out.UpdatedAt = timestamppb.New(newest)
	return out
}

func exceptionPB(e domain.VersionException) *signerv1.VersionException {
	out := &signerv1.VersionException{
		Id: e.ID, CustomerId: e.CustomerID, LicenseId: e.LicenseID, WorkspaceId: e.WorkspaceID, Line: e.Line,
		Until: timestamppb.New(e.Until), Reason: e.Reason, CreatedAt: timestamppb.New(e.CreatedAt),
	}
	if !e.RemovedAt.IsZero() {
		out.RemovedAt = timestamppb.New(e.RemovedAt)
	}
	return out
}
