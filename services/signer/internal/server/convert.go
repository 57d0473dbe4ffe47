package server

import (
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

func planPB(p domain.Plan) *signerv1.Plan {
	return &signerv1.Plan{
		Id: p.ID, Name: p.Name, Version: int32(p.Version), Free: p.Free,
		Modules: slices.Clone(p.Modules), DefinitionJson: string(p.DefinitionJSON),
	}
}

func licensePB(l domain.License) *signerv1.License {
	pb := &signerv1.License{
		Id: l.ID, WorkspaceId: l.WorkspaceID, Sequence: l.Sequence, PlanId: l.PlanID, PlanVersion: int32(l.PlanVersion),
		Address: l.Address, Token: l.Token, Kid: l.KeyID, IssuedAt: timestamppb.New(l.IssuedAt), Modules: slices.Clone(l.Modules),
	}
	if l.ExpiresAt != nil {
		pb.ExpiresAt = timestamppb.New(*l.ExpiresAt)
	}
	return pb
}
