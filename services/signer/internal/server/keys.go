package server

import (
	"context"
	"crypto/x509"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/resign"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Keys implements signerv1.KeyServiceServer.
type Keys struct {
	signerv1.UnimplementedKeyServiceServer
	store    *store.Store
	keyset   *keyset.Service
	resigner *resign.Resigner
	errs     rpcerr.Mapper
}

// NewKeys returns the key service.
func NewKeys(st *store.Store, ks *keyset.Service, rs *resign.Resigner, log *slog.Logger) *Keys {
	return &Keys{store: st, keyset: ks, resigner: rs, errs: newMapper(log)}
}

// ListKeys implements the RPC.
func (s *Keys) ListKeys(ctx context.Context, _ *signerv1.ListKeysRequest) (*signerv1.ListKeysResponse, error) {
	all, err := s.keyset.Keys(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &signerv1.ListKeysResponse{}
	for _, k := range all {
		resp.Keys = append(resp.Keys, signingKeyPB(k))
	}
	return resp, nil
}

// RotateKeys implements the RPC.
func (s *Keys) RotateKeys(ctx context.Context, req *signerv1.RotateKeysRequest) (*signerv1.RotateKeysResponse, error) {
	res, err := s.keyset.Rotate(ctx, req.GetForce())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.RotateKeysResponse{Active: signingKeyPB(res.Active), Next: signingKeyPB(res.Next), Retired: optKeyPB(res.Retired)}, nil
}

// ImportKey implements the RPC.
func (s *Keys) ImportKey(ctx context.Context, req *signerv1.ImportKeyRequest) (*signerv1.ImportKeyResponse, error) {
	if req.GetPrivateKeyPem() == "" {
		return nil, s.errs.Map(ctx, validate.Field("private_key_pem", "required"))
	}
	k, err := s.keyset.Import(ctx, []byte(req.GetPrivateKeyPem()), req.GetActivate())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.ImportKeyResponse{Key: signingKeyPB(k)}, nil
}

// RevokeKey implements the RPC.
func (s *Keys) RevokeKey(ctx context.Context, req *signerv1.RevokeKeyRequest) (*signerv1.RevokeKeyResponse, error) {
	revoked, promoted, err := s.keyset.Revoke(ctx, req.GetKid(), req.GetReason())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.RevokeKeyResponse{Key: signingKeyPB(revoked), Active: optKeyPB(promoted)}, nil
}

// StartResign implements the RPC.
func (s *Keys) StartResign(ctx context.Context, _ *signerv1.StartResignRequest) (*signerv1.StartResignResponse, error) {
	j, err := s.resigner.Start(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.StartResignResponse{Job: resignJobPB(j)}, nil
}

// GetResignJob implements the RPC.
func (s *Keys) GetResignJob(ctx context.Context, req *signerv1.GetResignJobRequest) (*signerv1.GetResignJobResponse, error) {
	if req.GetId() == "" {
		return nil, s.errs.Map(ctx, validate.Field("id", "required"))
	}
	j, err := s.store.ResignJob(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &signerv1.GetResignJobResponse{Job: resignJobPB(j)}, nil
}

func optKeyPB(k keyset.Key) *signerv1.SigningKey {
	if k.ID == "" {
		return nil
	}
	return signingKeyPB(k)
}

func signingKeyPB(k keyset.Key) *signerv1.SigningKey {
	spki, _ := x509.MarshalPKIXPublicKey(k.Public) // an RSA key always encodes
	return &signerv1.SigningKey{
		Kid: k.ID, Algorithm: k.Algorithm, State: string(k.State), SpkiDer: spki, Backend: k.Backend,
		CreatedAt: optTS(k.CreatedAt), NotBefore: optTS(k.NotBefore), RetiredAt: optTS(k.RetiredAt),
		NotAfter: optTS(k.NotAfter), RevokedAt: optTS(k.RevokedAt), RevokedReason: k.RevokedReason,
	}
}

func optTS(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func resignJobPB(j store.ResignJob) *signerv1.ResignJob {
	return &signerv1.ResignJob{Id: j.ID, TargetKid: j.TargetKID, State: j.State, Total: j.Total, Visited: j.Visited,
		Resigned: j.Resigned, CreatedAt: timestamppb.New(j.CreatedAt), UpdatedAt: timestamppb.New(j.UpdatedAt)}
}
