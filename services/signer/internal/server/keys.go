package server

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/pkg/validate"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	"github.com/cloudlicense/authority/services/signer/internal/resign"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Keys is the license keyset's KeyService: the keyset's own RPCs, and the
// re-sign jobs, which only the signer (knowing every license) can run.
type Keys struct {
	*keyset.Server
	store    *store.Store
	resigner *resign.Resigner
	errs     rpcerr.Mapper
}

// NewKeys returns the key service.
func NewKeys(st *store.Store, ks *keyset.Service, rs *resign.Resigner, log *slog.Logger) *Keys {
	errs := newMapper(log)
	return &Keys{Server: keyset.NewServer(ks, errs), store: st, resigner: rs, errs: errs}
}

// StartResign implements the RPC.
func (s *Keys) StartResign(ctx context.Context, _ *keysv1.StartResignRequest) (*keysv1.StartResignResponse, error) {
	j, err := s.resigner.Start(ctx)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &keysv1.StartResignResponse{Job: resignJobPB(j)}, nil
}

// GetResignJob implements the RPC.
func (s *Keys) GetResignJob(ctx context.Context, req *keysv1.GetResignJobRequest) (*keysv1.GetResignJobResponse, error) {
	if req.GetId() == "" {
		return nil, s.errs.Map(ctx, validate.Field("id", "required"))
	}
	j, err := s.store.ResignJob(ctx, req.GetId())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &keysv1.GetResignJobResponse{Job: resignJobPB(j)}, nil
}

func resignJobPB(j store.ResignJob) *keysv1.ResignJob {
	return &keysv1.ResignJob{Id: j.ID, TargetKid: j.TargetKID, State: j.State, Total: j.Total, Visited: j.Visited,
		Resigned: j.Resigned, CreatedAt: timestamppb.New(j.CreatedAt), UpdatedAt: timestamppb.New(j.UpdatedAt)}
}
