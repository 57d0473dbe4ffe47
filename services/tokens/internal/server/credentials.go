package server

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// GetRegistrationToken implements the RPC.
func (s *Server) GetRegistrationToken(ctx context.Context, req *tokensv1.GetRegistrationTokenRequest) (*tokensv1.GetRegistrationTokenResponse, error) {
	if strings.TrimSpace(req.GetId()) == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "id", Description: "required"})
	}
	t, err := s.store.RegistrationToken(ctx, req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.GetRegistrationTokenResponse{Token: tokenPB(t)}, nil
}

// ListRegistrationTokens implements the RPC.
func (s *Server) ListRegistrationTokens(ctx context.Context, req *tokensv1.ListRegistrationTokensRequest) (*tokensv1.ListRegistrationTokensResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 500:
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "page_size", Description: "must be between 0 and 500"})
	case size == 0:
		size = 100
	}
	ts, err := s.store.RegistrationTokens(ctx, req.GetCustomerId(), size)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &tokensv1.ListRegistrationTokensResponse{}
	for _, t := range ts {
		resp.Tokens = append(resp.Tokens, tokenPB(t))
	}
	return resp, nil
}

// IssueWorkspaceCredentials implements the RPC.
func (s *Server) IssueWorkspaceCredentials(ctx context.Context, req *tokensv1.IssueWorkspaceCredentialsRequest) (*tokensv1.IssueWorkspaceCredentialsResponse, error) {
	if strings.TrimSpace(req.GetWorkspaceId()) == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "workspace_id", Description: "required"})
	}
	r, revoked, err := s.store.IssueWorkspaceCredentials(ctx, req.GetWorkspaceId(), req.GetClientName(), req.GetRedirectUris())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.IssueWorkspaceCredentialsResponse{ClientId: r.ClientID, ClientSecret: r.ClientSecret, Revoked: revoked}, nil
}

// RevokeWorkspaceCredentials implements the RPC.
func (s *Server) RevokeWorkspaceCredentials(ctx context.Context, req *tokensv1.RevokeWorkspaceCredentialsRequest) (*tokensv1.RevokeWorkspaceCredentialsResponse, error) {
	if strings.TrimSpace(req.GetWorkspaceId()) == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "workspace_id", Description: "required"})
	}
	n, err := s.store.RevokeWorkspaceCredentials(ctx, req.GetWorkspaceId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &tokensv1.RevokeWorkspaceCredentialsResponse{Revoked: n}, nil
}

// GetClientCredential implements the RPC.
func (s *Server) GetClientCredential(ctx context.Context, req *tokensv1.GetClientCredentialRequest) (*tokensv1.GetClientCredentialResponse, error) {
	if strings.TrimSpace(req.GetClientId()) == "" {
		return nil, rpcerr.InvalidArgument(errDomain, "INVALID_REQUEST", rpcerr.FieldViolation{Field: "client_id", Description: "required"})
	}
	c, err := s.store.CredentialInfo(ctx, req.GetClientId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	pb := &tokensv1.ClientCredential{ClientId: c.ClientID, WorkspaceId: c.WorkspaceID, CreatedAt: timestamppb.New(c.CreatedAt)}
	if c.FirstUsedAt != nil {
		pb.FirstUsedAt = timestamppb.New(*c.FirstUsedAt)
	}
	if c.RevokedAt != nil {
		pb.RevokedAt = timestamppb.New(*c.RevokedAt)
	}
	return &tokensv1.GetClientCredentialResponse{Credential: pb}, nil
}
