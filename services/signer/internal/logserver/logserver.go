// Package logserver is the issuance log's gRPC surface (LogService): the
// authorization policy, request checks, and the mapping of the log's errors
// to gRPC codes. Everything it serves is public evidence.
package logserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/pkg/validate"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
)

// readers is every internal role: the log is public, and the gateway (a
// service) serves it to anyone.
var readers = []authn.Role{authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService}

// Policy says which roles may call each LogService RPC (admin may call all).
var Policy = authn.Policy{
	logv1.LogService_GetSignedTreeHead_FullMethodName:   readers,
	logv1.LogService_GetInclusionProof_FullMethodName:   readers,
	logv1.LogService_GetConsistencyProof_FullMethodName: readers,
	logv1.LogService_GetEntries_FullMethodName:          readers,
}

// MaxEntries is the most entries one GetEntries returns.
const MaxEntries = 1000

// Reasons the log returns (google.rpc.ErrorInfo, domain signer.licensing).
const (
	ReasonLeafNotFound     = "LEAF_NOT_FOUND"
	ReasonLeafNotSequenced = "LEAF_NOT_SEQUENCED"
	ReasonLeafNotInTree    = "LEAF_NOT_IN_TREE"
	ReasonTreeHeadNotFound = "TREE_HEAD_NOT_FOUND"
	ReasonLogEmpty         = "LOG_EMPTY"
	ReasonInvalidRequest   = "INVALID_REQUEST"
	errDomain              = "signer.licensing"
)

// errLeafNotInTree reports a leaf appended after the tree size asked for.
var errLeafNotInTree = errors.New("the leaf was appended after that tree size")

// Server implements logv1.LogServiceServer.
type Server struct {
	logv1.UnimplementedLogServiceServer
	store *translog.Store
	errs  rpcerr.Mapper
}

// New returns the server.
func New(st *translog.Store, log *slog.Logger) *Server {
	return &Server{store: st, errs: rpcerr.Mapper{Domain: errDomain, Log: log, Rules: []rpcerr.Rule{
		{Err: translog.ErrLeafNotFound, Code: codes.NotFound, Reason: ReasonLeafNotFound},
		{Err: translog.ErrNotSequenced, Code: codes.FailedPrecondition, Reason: ReasonLeafNotSequenced},
		{Err: errLeafNotInTree, Code: codes.FailedPrecondition, Reason: ReasonLeafNotInTree},
		{Err: translog.ErrTreeHeadNotFound, Code: codes.NotFound, Reason: ReasonTreeHeadNotFound},
		{Err: translog.ErrEmptyLog, Code: codes.NotFound, Reason: ReasonLogEmpty},
		{Err: validate.ErrInvalid, Code: codes.InvalidArgument, Reason: ReasonInvalidRequest},
	}}}
}

// head returns the head of size, or the latest for 0.
func (s *Server) head(ctx context.Context, size uint64) (tlog.SignedTreeHead, error) {
	return s.store.TreeHead(ctx, size, size == 0)
}

// GetSignedTreeHead implements the RPC.
func (s *Server) GetSignedTreeHead(ctx context.Context, req *logv1.GetSignedTreeHeadRequest) (*logv1.GetSignedTreeHeadResponse, error) {
	h, err := s.head(ctx, req.GetTreeSize())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &logv1.GetSignedTreeHeadResponse{TreeHead: headPB(h)}, nil
}

// GetInclusionProof implements the RPC.
func (s *Server) GetInclusionProof(ctx context.Context, req *logv1.GetInclusionProofRequest) (*logv1.GetInclusionProofResponse, error) {
	var e translog.Entry
	var err error
	switch leaf := req.GetLeaf().(type) {
	case *logv1.GetInclusionProofRequest_LeafHash:
		if len(leaf.LeafHash) != tlog.HashSize {
			return nil, s.errs.Map(ctx, validate.Field("leaf_hash", "must be %d bytes, got %d", tlog.HashSize, len(leaf.LeafHash)))
		}
		e, err = s.store.EntryByHash(ctx, leaf.LeafHash)
	case *logv1.GetInclusionProofRequest_License:
		var errs []error
		if leaf.License.GetWorkspaceId() == "" {
			errs = append(errs, validate.Field("license.workspace_id", "required"))
		}
		if leaf.License.GetSequence() < 1 {
			errs = append(errs, validate.Field("license.sequence", "must be >= 1, got %d", leaf.License.GetSequence()))
		}
		if len(errs) > 0 {
			return nil, s.errs.Map(ctx, errors.Join(errs...))
		}
		e, err = s.store.LicenseEntry(ctx, leaf.License.GetWorkspaceId(), leaf.License.GetSequence())
	default:
		return nil, s.errs.Map(ctx, validate.Field("leaf", "required: leaf_hash or license"))
	}
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	h, err := s.head(ctx, req.GetTreeSize())
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if e.Index >= h.Size {
		// The latest head may predate the batch that holds the leaf only
		// for an instant; a given size is the caller's choice.
		return nil, s.errs.Map(ctx, fmt.Errorf("%w: leaf %d, tree of %d", errLeafNotInTree, e.Index, h.Size))
	}
	path, err := tlog.InclusionProof(ctx, e.Index, h.Size, s.store.Nodes)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	bundle, err := json.Marshal(tlog.Bundle{Log: tlog.LogID, LeafIndex: e.Index, Leaf: e.Leaf.JSON(), InclusionProof: path, TreeHead: h.JWS})
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	return &logv1.GetInclusionProofResponse{Entry: entryPB(e), AuditPath: path, TreeHead: headPB(h), BundleJson: string(bundle)}, nil
}

// GetConsistencyProof implements the RPC.
func (s *Server) GetConsistencyProof(ctx context.Context, req *logv1.GetConsistencyProofRequest) (*logv1.GetConsistencyProofResponse, error) {
	latest, err := s.head(ctx, 0)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	first, second := req.GetFirstTreeSize(), req.GetSecondTreeSize()
	if second == 0 {
		second = latest.Size
	}
	switch {
	case second > latest.Size:
		return nil, s.errs.Map(ctx, validate.Field("second_tree_size", "%d is beyond the log's %d leaves", second, latest.Size))
	case first > second:
		return nil, s.errs.Map(ctx, validate.Field("first_tree_size", "%d is beyond the second size %d", first, second))
	}
	proof, err := tlog.ConsistencyProof(ctx, first, second, s.store.Nodes)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &logv1.GetConsistencyProofResponse{FirstTreeSize: first, SecondTreeSize: second, Proof: proof}
	for _, h := range []struct {
		size uint64
		out  **logv1.SignedTreeHead
	}{{first, &resp.FirstTreeHead}, {second, &resp.SecondTreeHead}} {
		sth, err := s.store.TreeHead(ctx, h.size, false)
		switch {
		case err == nil:
			*h.out = headPB(sth)
		case !errors.Is(err, translog.ErrTreeHeadNotFound):
			return nil, s.errs.Map(ctx, err)
		}
	}
	return resp, nil
}

// GetEntries implements the RPC.
func (s *Server) GetEntries(ctx context.Context, req *logv1.GetEntriesRequest) (*logv1.GetEntriesResponse, error) {
	start, end := req.GetStart(), req.GetEnd()
	if end <= start {
		return nil, s.errs.Map(ctx, validate.Field("end", "must be after start (%d), got %d", start, end))
	}
	latest, err := s.head(ctx, 0)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	if start >= latest.Size {
		return nil, s.errs.Map(ctx, validate.Field("start", "%d is beyond the log's %d leaves", start, latest.Size))
	}
	end = min(end, start+MaxEntries, latest.Size)
	es, err := s.store.Entries(ctx, start, end)
	if err != nil {
		return nil, s.errs.Map(ctx, err)
	}
	resp := &logv1.GetEntriesResponse{}
	for _, e := range es {
		resp.Entries = append(resp.Entries, entryPB(e))
	}
	return resp, nil
}

func headPB(h tlog.SignedTreeHead) *logv1.SignedTreeHead {
	return &logv1.SignedTreeHead{TreeSize: h.Size, RootHash: h.RootHash, Timestamp: timestamppb.New(h.Timestamp), Kid: h.KeyID, Jws: h.JWS}
}

func entryPB(e translog.Entry) *logv1.Entry {
	return &logv1.Entry{
		LeafIndex: e.Index, LeafHash: e.LeafHash, SequencedAt: timestamppb.New(e.SequencedAt),
		Leaf: &logv1.Leaf{Kind: string(e.Leaf.Kind), WorkspaceId: e.Leaf.WorkspaceID, Sequence: e.Leaf.Sequence, ArtifactSha256: e.Leaf.ArtifactSHA256},
	}
}
