package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
)

// The issuance log's public, read-only endpoints: anyone (a workspace, an
// auditor, a monitor) may fetch tree heads, proofs and entries and check
// them with pkg/translog and the license public key. Hashes are standard
// base64 in JSON, as in RFC 6962's API; the signed tree head travels as the
// JWS that is its only trusted form.

// treeHeadJSON is a signed tree head as the endpoints return it.
type treeHeadJSON struct {
	TreeSize  uint64 `json:"treeSize"`
	Timestamp int64  `json:"timestamp"` // milliseconds
	RootHash  []byte `json:"rootHash"`
	Kid       string `json:"kid"`
	// Signed is the head as a compact RS256 JWS: verify this, not the
	// members beside it.
	Signed string `json:"signed"`
}

func treeHeadBody(h *logv1.SignedTreeHead) *treeHeadJSON {
	if h == nil {
		return nil
	}
	return &treeHeadJSON{TreeSize: h.GetTreeSize(), Timestamp: h.GetTimestamp().AsTime().UnixMilli(), RootHash: h.GetRootHash(), Kid: h.GetKid(), Signed: h.GetJws()}
}

// uintParam reads an optional unsigned query parameter (def when absent).
func uintParam(r *http.Request, name string, def uint64) (uint64, *protocolError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		e := badRequest("invalid_request", name+": must be a non-negative integer, got "+strconv.Quote(s))
		return 0, &e
	}
	return v, nil
}

// logError answers a log RPC's refusal: a leaf not in the log yet is a
// conflict the caller retries shortly.
func (a *API) logError(w http.ResponseWriter, r *http.Request, err error) {
	switch rpcerr.Reason(err) {
	case "LEAF_NOT_SEQUENCED":
		w.Header().Set("Retry-After", "1")
		writeError(w, protocolError{http.StatusConflict, "not_yet_logged", "the artifact is queued for the log; retry in a moment"})
	case "LEAF_NOT_IN_TREE":
		writeError(w, protocolError{http.StatusConflict, "leaf_not_in_tree", "the artifact was logged after that tree size"})
	case "LEAF_NOT_FOUND":
		writeError(w, protocolError{http.StatusNotFound, "not_found", "no such artifact in the log"})
	case "TREE_HEAD_NOT_FOUND":
		writeError(w, protocolError{http.StatusNotFound, "not_found", "no signed tree head of that size"})
	case "LOG_EMPTY":
		writeError(w, protocolError{http.StatusNotFound, "not_found", "the log has no signed tree head yet"})
	default:
		writeError(w, fromRPC(a.log, r, err))
	}
}

// logTreeHead is GET /v1/log/tree-head[?treeSize=N]: the latest signed
// tree head, or the one of size N.
func (a *API) logTreeHead(w http.ResponseWriter, r *http.Request) {
	size, perr := uintParam(r, "treeSize", 0)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	resp, err := a.up.Log.GetSignedTreeHead(r.Context(), &logv1.GetSignedTreeHeadRequest{TreeSize: size})
	if err != nil {
		a.logError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, treeHeadBody(resp.GetTreeHead()))
}

// logInclusion is GET /v1/log/inclusion?leafHash=HEX or
// ?workspaceId=ID&sequence=N, [&treeSize=N]: the proof bundle
// (pkg/translog.Bundle) of the leaf, the document an offline license's
// proof file holds.
func (a *API) logInclusion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, perr := uintParam(r, "treeSize", 0)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	req := &logv1.GetInclusionProofRequest{TreeSize: size}
	switch {
	case q.Get("leafHash") != "" && q.Get("workspaceId") != "":
		writeError(w, badRequest("invalid_request", "leafHash: give either leafHash or workspaceId and sequence"))
		return
	case q.Get("leafHash") != "":
		h, err := hex.DecodeString(q.Get("leafHash"))
		if err != nil || len(h) != tlog.HashSize {
			writeError(w, badRequest("invalid_request", "leafHash: must be 64 hexadecimal digits"))
			return
		}
		req.Leaf = &logv1.GetInclusionProofRequest_LeafHash{LeafHash: h}
	case q.Get("workspaceId") != "":
		seq, perr := uintParam(r, "sequence", 0)
		if perr != nil {
			writeError(w, *perr)
			return
		}
		req.Leaf = &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: q.Get("workspaceId"), Sequence: int64(seq)}}
	default:
		writeError(w, badRequest("invalid_request", "leafHash or workspaceId and sequence: required"))
		return
	}
	resp, err := a.up.Log.GetInclusionProof(r.Context(), req)
	if err != nil {
		a.logError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(resp.GetBundleJson()))
}

// logConsistency is GET /v1/log/consistency?first=N[&second=M]: the proof
// that the tree of N leaves is a prefix of the tree of M (default: the
// latest), with the signed heads of both sizes when they were signed.
func (a *API) logConsistency(w http.ResponseWriter, r *http.Request) {
	first, perr := uintParam(r, "first", 0)
	if perr == nil && r.URL.Query().Get("first") == "" {
		e := badRequest("invalid_request", "first: required")
		perr = &e
	}
	if perr != nil {
		writeError(w, *perr)
		return
	}
	second, perr := uintParam(r, "second", 0)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	resp, err := a.up.Log.GetConsistencyProof(r.Context(), &logv1.GetConsistencyProofRequest{FirstTreeSize: first, SecondTreeSize: second})
	if err != nil {
		a.logError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		First          uint64        `json:"first"`
		Second         uint64        `json:"second"`
		Consistency    [][]byte      `json:"consistency"`
		FirstTreeHead  *treeHeadJSON `json:"firstTreeHead"`
		SecondTreeHead *treeHeadJSON `json:"secondTreeHead"`
	}{resp.GetFirstTreeSize(), resp.GetSecondTreeSize(), nonNil(resp.GetProof()), treeHeadBody(resp.GetFirstTreeHead()), treeHeadBody(resp.GetSecondTreeHead())})
}

// logEntries is GET /v1/log/entries?start=N&end=M: leaves [N, M), at most
// 1000 per answer, for auditors that rebuild the tree.
func (a *API) logEntries(w http.ResponseWriter, r *http.Request) {
	start, perr := uintParam(r, "start", 0)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	end, perr := uintParam(r, "end", 0)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	resp, err := a.up.Log.GetEntries(r.Context(), &logv1.GetEntriesRequest{Start: start, End: end})
	if err != nil {
		a.logError(w, r, err)
		return
	}
	type entry struct {
		LeafIndex uint64        `json:"leafIndex"`
		Leaf      tlog.LeafJSON `json:"leaf"`
		LeafHash  string        `json:"leafHash"`
	}
	out := struct {
		Entries []entry `json:"entries"`
	}{Entries: []entry{}}
	for _, e := range resp.GetEntries() {
		l := e.GetLeaf()
		out.Entries = append(out.Entries, entry{
			LeafIndex: e.GetLeafIndex(),
			Leaf: tlog.LeafJSON{Kind: tlog.Kind(l.GetKind()), WorkspaceID: l.GetWorkspaceId(), Sequence: l.GetSequence(),
				ArtifactSHA256: hex.EncodeToString(l.GetArtifactSha256())},
			LeafHash: base64.StdEncoding.EncodeToString(e.GetLeafHash()),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil(b [][]byte) [][]byte {
	if b == nil {
		return [][]byte{}
	}
	return b
}
