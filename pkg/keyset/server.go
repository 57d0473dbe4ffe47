package keyset

import (
	"context"
	"crypto/x509"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
)

// Reasons of the keyset's errors (google.rpc.ErrorInfo, in the serving
// service's domain).
const (
	ReasonKeyExists     = "KEY_EXISTS"
	ReasonKeyNotFound   = "KEY_NOT_FOUND"
	ReasonKeyRevoked    = "KEY_REVOKED"
	ReasonNoNextKey     = "NO_NEXT_KEY"
	ReasonNextKeyTooNew = "NEXT_KEY_TOO_NEW"
)

// ErrorRules map the keyset's errors to gRPC codes; a service appends them to
// its own mapper's rules.
func ErrorRules() []rpcerr.Rule {
	return []rpcerr.Rule{
		{Err: ErrKeyExists, Code: codes.AlreadyExists, Reason: ReasonKeyExists},
		{Err: ErrKeyNotFound, Code: codes.NotFound, Reason: ReasonKeyNotFound},
		{Err: ErrKeyRevoked, Code: codes.FailedPrecondition, Reason: ReasonKeyRevoked},
		{Err: ErrNoNextKey, Code: codes.FailedPrecondition, Reason: ReasonNoNextKey},
		{Err: ErrNextKeyTooNew, Code: codes.FailedPrecondition, Reason: ReasonNextKeyTooNew},
	}
}

// Server is keysv1.KeyServiceServer over a Service. The re-sign RPCs answer
// UNIMPLEMENTED unless the owning service, which knows what its keys signed,
// embeds Server and provides them.
type Server struct {
	keysv1.UnimplementedKeyServiceServer
	svc  *Service
	errs rpcerr.Mapper
}

// NewServer returns the server; errs must include ErrorRules.
func NewServer(svc *Service, errs rpcerr.Mapper) *Server { return &Server{svc: svc, errs: errs} }

// ListKeys implements the RPC.
func (s *Server) ListKeys(ctx context.Context, _ *keysv1.ListKeysRequest) (*keysv1.ListKeysResponse, error) {
	all, err := s.svc.Keys(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &keysv1.ListKeysResponse{}
	for _, k := range all {
		resp.Keys = append(resp.Keys, KeyPB(k))
	}
	return resp, nil
}

// RotateKeys implements the RPC.
func (s *Server) RotateKeys(ctx context.Context, req *keysv1.RotateKeysRequest) (*keysv1.RotateKeysResponse, error) {
	res, err := s.svc.Rotate(ctx, req.GetForce())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &keysv1.RotateKeysResponse{Active: KeyPB(res.Active), Next: KeyPB(res.Next), Retired: optKeyPB(res.Retired)}, nil
}

// ImportKey implements the RPC.
func (s *Server) ImportKey(ctx context.Context, req *keysv1.ImportKeyRequest) (*keysv1.ImportKeyResponse, error) {
	if req.GetPrivateKeyPem() == "" {
		return nil, s.errs.Map(ctx, validate.Field("private_key_pem", "required"))
	}
	k, err := s.svc.Import(ctx, []byte(req.GetPrivateKeyPem()), req.GetActivate())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &keysv1.ImportKeyResponse{Key: KeyPB(k)}, nil
}

// RevokeKey implements the RPC.
func (s *Server) RevokeKey(ctx context.Context, req *keysv1.RevokeKeyRequest) (*keysv1.RevokeKeyResponse, error) {
	revoked, promoted, err := s.svc.Revoke(ctx, req.GetKid(), req.GetReason())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &keysv1.RevokeKeyResponse{Key: KeyPB(revoked), Active: optKeyPB(promoted)}, nil
}

func optKeyPB(k Key) *keysv1.SigningKey {
	if k.ID == "" {
		return nil
	}
	return KeyPB(k)
}

// KeyPB is k as the API shows it: no private material.
func KeyPB(k Key) *keysv1.SigningKey {
	spki, _ := x509.MarshalPKIXPublicKey(k.Public) // an RSA key always encodes
	return &keysv1.SigningKey{
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
