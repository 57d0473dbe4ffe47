package server

import (
	"context"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/validate"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

func dataFromPB(d *registryv1.RegistrationData) domain.RegistrationData {
	return domain.RegistrationData{
		UniqueID: d.GetUniqueId(), WorkspaceID: d.GetWorkspaceId(), Address: d.GetAddress(), SiteName: d.GetSiteName(),
		ContactName: d.GetContactName(), ContactEmail: d.GetContactEmail(), AccountName: d.GetAccountName(),
		Version: d.GetVersion(), Seats: d.GetSeats(), RawJSON: d.GetRawJson(),
	}.Normalize()
}

// CreateIntent implements the RPC.
func (s *Server) CreateIntent(ctx context.Context, req *registryv1.CreateIntentRequest) (*registryv1.CreateIntentResponse, error) {
	data := dataFromPB(req.GetData())
	if err := data.Validate(true); err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if err := s.checkVersion(ctx, "", data.Version); err != nil {
		return nil, err
	}
	verify := strings.TrimSpace(req.GetVerificationUrl())
	if u, err := url.Parse(verify); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" {
		return nil, s.errs.Map(ctx, validate.Field("verification_url", "must be an absolute http(s) URL without a query"))
	}
	if s.opts.Sealer == nil {
		return nil, s.errs.Map(ctx, domain.ErrIntentsOff)
	}
	if req.GetResend() {
		in, found, err := s.store.ResendIntent(ctx, data.UniqueID, data.ContactEmail)
		if err != nil {
			return nil, s.errs.Map(ctx, err)
		}
		if found {
			device, err := s.opts.Sealer.Open(in.ID, in.DeviceCodeSealed)
			if err != nil {
				return nil, s.errs.Map(ctx, err)
			}
			return s.intentResponse(in, device), nil
		}
	}
	in := domain.Intent{
		ID: domain.NewIntentID(), WorkspaceID: domain.NewWorkspaceID(), UserCode: domain.NewUserCode(),
		Data: data, VerificationURL: verify,
	}
	device, confirm := domain.NewDeviceCode(), domain.NewConfirmCode()
	in.DeviceCodeSealed = s.opts.Sealer.Seal(in.ID, device)
	in.ConfirmCodeSealed = s.opts.Sealer.Seal(in.ID, confirm)
	in, err := s.store.CreateIntent(ctx, store.NewIntent{
		Intent: in, DeviceCodeHash: domain.HashCode(device), ConfirmCodeHash: domain.HashCode(confirm), TTL: s.opts.IntentTTL,
	})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return s.intentResponse(in, device), nil
}

func (s *Server) intentResponse(in domain.Intent, device string) *registryv1.CreateIntentResponse {
	return &registryv1.CreateIntentResponse{
		DeviceCode: device, UserCode: in.UserCode, VerificationUrl: in.VerificationURL,
		Interval: int32(max(1, s.opts.PollInterval/time.Second)), ExpiresIn: int32(max(0, time.Until(in.ExpiresAt)/time.Second)),
		WorkspaceId: in.WorkspaceID,
	}
}

var pollStatuses = map[domain.PollStatus]registryv1.IntentStatus{
	domain.PollPending:   registryv1.IntentStatus_INTENT_STATUS_PENDING,
	domain.PollSlowDown:  registryv1.IntentStatus_INTENT_STATUS_SLOW_DOWN,
	domain.PollExpired:   registryv1.IntentStatus_INTENT_STATUS_EXPIRED,
	domain.PollRejected:  registryv1.IntentStatus_INTENT_STATUS_REJECTED,
	domain.PollConfirmed: registryv1.IntentStatus_INTENT_STATUS_CONFIRMED,
}

// PollIntent implements the RPC. A confirmed intent hands out its
// credentials until the token service says they were used (or revoked);
// then the secret is erased and the intent answers expired.
func (s *Server) PollIntent(ctx context.Context, req *registryv1.PollIntentRequest) (*registryv1.PollIntentResponse, error) {
	code := strings.TrimSpace(req.GetDeviceCode())
	if code == "" {
		return nil, s.errs.Map(ctx, validate.Field("device_code", "required"))
	}
	in, status, err := s.store.Poll(ctx, domain.HashCode(code), s.opts.PollInterval)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if status != domain.PollConfirmed {
		return &registryv1.PollIntentResponse{Status: pollStatuses[status]}, nil
	}
	cred, err := s.tokens.GetClientCredential(ctx, &tokensv1.GetClientCredentialRequest{ClientId: in.ClientID})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if cred.GetCredential().GetFirstUsedAt() != nil || cred.GetCredential().GetRevokedAt() != nil {
		if err := s.store.EraseSecret(ctx, in.ID); err != nil {
			return nil, s.errs.Map(ctx, err)
		}
		return &registryv1.PollIntentResponse{Status: registryv1.IntentStatus_INTENT_STATUS_EXPIRED}, nil
	}
	if s.opts.Sealer == nil {
		return nil, s.errs.Map(ctx, domain.ErrIntentsOff)
	}
	secret, err := s.opts.Sealer.Open(in.ID, in.ClientSecretSealed)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	w, err := s.store.Workspace(ctx, in.WorkspaceID)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.PollIntentResponse{
		Status: registryv1.IntentStatus_INTENT_STATUS_CONFIRMED, Workspace: workspacePB(w),
		ClientId: in.ClientID, ClientSecret: secret, Address: in.Data.Address,
	}, nil
}

func confirmCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 128 {
		return "", validate.Field("code", "required")
	}
	return domain.HashCode(code), nil
}

func intentView(in domain.Intent, now time.Time) *registryv1.IntentView {
	return &registryv1.IntentView{
		WorkspaceId: in.WorkspaceID, UserCode: in.UserCode, SiteName: in.Data.SiteName, Address: in.Data.Address,
		ContactEmail: in.Data.ContactEmail, AccountName: in.Data.AccountName, State: in.StateAt(now), ExpiresAt: timestamppb.New(in.ExpiresAt),
	}
}

// GetIntentByCode implements the RPC.
func (s *Server) GetIntentByCode(ctx context.Context, req *registryv1.GetIntentByCodeRequest) (*registryv1.GetIntentByCodeResponse, error) {
	hash, err := confirmCode(req.GetCode())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	in, now, err := s.store.IntentByConfirmCode(ctx, hash)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.GetIntentByCodeResponse{Intent: intentView(in, now)}, nil
}

// ConfirmIntent implements the RPC.
func (s *Server) ConfirmIntent(ctx context.Context, req *registryv1.ConfirmIntentRequest) (*registryv1.ConfirmIntentResponse, error) {
	hash, err := confirmCode(req.GetCode())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if s.opts.Sealer == nil {
		return nil, s.errs.Map(ctx, domain.ErrIntentsOff)
	}
	in, w, err := s.store.ConfirmIntent(ctx, hash, func(in domain.Intent) (store.Credentials, error) {
		resp, err := s.tokens.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{
			WorkspaceId: in.WorkspaceID, ClientName: in.Data.SiteName,
		})
		if err != nil {
			return store.Credentials{}, err
		}
		return store.Credentials{ClientID: resp.GetClientId(), SecretSealed: s.opts.Sealer.Seal(in.ID, resp.GetClientSecret())}, nil
	})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.ConfirmIntentResponse{Intent: intentView(in, time.Now()), Workspace: workspacePB(w)}, nil
}

// RejectIntent implements the RPC.
func (s *Server) RejectIntent(ctx context.Context, req *registryv1.RejectIntentRequest) (*registryv1.RejectIntentResponse, error) {
	hash, err := confirmCode(req.GetCode())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	in, err := s.store.RejectIntent(ctx, hash)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &registryv1.RejectIntentResponse{Intent: intentView(in, time.Now())}, nil
}
