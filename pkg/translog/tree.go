package translog

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
)

// NodeID names a complete subtree: the 2^Level leaves starting at leaf
// Index << Level. Level 0 nodes are leaf hashes. A log stores every
// complete subtree once it is full (about 2n hashes for n leaves); such a
// hash never changes afterwards, which is what makes proofs cheap: any
// subtree RFC 6962 names is a handful of complete ones.
type NodeID struct {
	Level uint8
	Index uint64
}

// First is the node's first leaf; End is one past its last.
func (id NodeID) First() uint64 { return id.Index << id.Level }

// End is one past the node's last leaf.
func (id NodeID) End() uint64 { return (id.Index + 1) << id.Level }

// NodeReader returns the hashes of complete subtrees. A missing one is an
// error: the log is incomplete or was tampered with.
type NodeReader func(ctx context.Context, ids []NodeID) (map[NodeID][]byte, error)

// ErrIndex reports a leaf index or tree size a proof cannot be made for.
var ErrIndex = errors.New("translog: index out of range")

// span is the leaves [lo, hi) of one subtree RFC 6962's recursion names.
type span struct{ lo, hi uint64 }

// largestPow2Below is k of RFC 6962: the largest power of two < n (n > 1).
func largestPow2Below(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// nodes decomposes s into complete subtrees, left to right. Every span the
// RFC's recursion yields from [0, n) starts at a multiple of its largest
// part, so this is the binary expansion of its width.
func (s span) nodes() []NodeID {
	var ids []NodeID
	for lo := s.lo; lo < s.hi; {
		level := uint8(bits.Len64(s.hi-lo) - 1)
		if lo != 0 {
			level = min(level, uint8(bits.TrailingZeros64(lo)))
		}
		ids = append(ids, NodeID{Level: level, Index: lo >> level})
		lo += 1 << level
	}
	return ids
}

// inclusionSpans is PATH(m, D[lo:hi]) of RFC 6962 section 2.1.1 as the
// spans whose hashes it lists, deepest first.
func inclusionSpans(m, lo, hi uint64) []span {
	if hi-lo <= 1 {
		return nil
	}
	k := largestPow2Below(hi - lo)
	if m < k {
		return append(inclusionSpans(m, lo, lo+k), span{lo + k, hi})
	}
	return append(inclusionSpans(m-k, lo+k, hi), span{lo, lo + k})
}

// consistencySpans is SUBPROOF(m, D[lo:hi], b) of RFC 6962 section 2.1.2.
func consistencySpans(m, lo, hi uint64, b bool) []span {
	n := hi - lo
	if m == n {
		if b {
			return nil
		}
		return []span{{lo, hi}}
	}
	k := largestPow2Below(n)
	if m <= k {
		return append(consistencySpans(m, lo, lo+k, b), span{lo + k, hi})
	}
	return append(consistencySpans(m-k, lo+k, hi, false), span{lo, lo + k})
}

// hashSpans reads the complete subtrees of spans in one call and hashes
// each span.
func hashSpans(ctx context.Context, spans []span, read NodeReader) ([][]byte, error) {
	if len(spans) == 0 {
		return [][]byte{}, nil
	}
	var ids []NodeID
	for _, s := range spans {
		ids = append(ids, s.nodes()...)
	}
	got, err := read(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(spans))
	for i, s := range spans {
		parts := s.nodes()
		var h []byte
		for j := len(parts) - 1; j >= 0; j-- {
			p, ok := got[parts[j]]
			if !ok || len(p) != HashSize {
				return nil, fmt.Errorf("translog: node %d/%d is missing", parts[j].Level, parts[j].Index)
			}
			if h == nil {
				h = p
			} else {
				h = NodeHash(p, h)
			}
		}
		out[i] = h
	}
	return out, nil
}

// Root is MTH of the first size leaves, from their complete subtrees.
func Root(ctx context.Context, size uint64, read NodeReader) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	h, err := hashSpans(ctx, []span{{0, size}}, read)
	if err != nil {
		return nil, err
	}
	return h[0], nil
}

// InclusionProof is the audit path of leaf index in the tree of size leaves
// (RFC 6962 PATH), at most log2(size) hashes from as many stored nodes.
func InclusionProof(ctx context.Context, index, size uint64, read NodeReader) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d in a tree of %d", ErrIndex, index, size)
	}
	return hashSpans(ctx, inclusionSpans(index, 0, size), read)
}

// ConsistencyProof shows that the tree of size first is a prefix of the
// tree of size second (RFC 6962 PROOF). It is empty when first is 0 or
// equals second.
func ConsistencyProof(ctx context.Context, first, second uint64, read NodeReader) ([][]byte, error) {
	if first > second {
		return nil, fmt.Errorf("%w: first size %d is beyond the second %d", ErrIndex, first, second)
	}
	if first == 0 || first == second {
		return [][]byte{}, nil
	}
	return hashSpans(ctx, consistencySpans(first, 0, second, true), read)
}

// CompleteNodes returns the complete subtrees that appending the leaf
// hashes leaves (starting at leaf index first) completes, given the
// right-border nodes of the tree of size first (Frontier(first)). The
// result includes the leaves themselves (level 0), in the order a log
// stores them.
func CompleteNodes(first uint64, frontier map[NodeID][]byte, leaves [][]byte) (map[NodeID][]byte, error) {
	known := make(map[NodeID][]byte, 2*len(leaves)+len(frontier))
	for _, id := range Frontier(first) {
		h, ok := frontier[id]
		if !ok {
			return nil, fmt.Errorf("translog: frontier node %d/%d is missing", id.Level, id.Index)
		}
		known[id] = h
	}
	added := make(map[NodeID][]byte, 2*len(leaves))
	for i, leaf := range leaves {
		id := NodeID{Level: 0, Index: first + uint64(i)}
		known[id], added[id] = leaf, leaf
		// Each node this leaf completes is its left sibling's parent.
		for id.Index&1 == 1 {
			left := known[NodeID{Level: id.Level, Index: id.Index - 1}]
			if left == nil {
				return nil, fmt.Errorf("translog: node %d/%d is missing", id.Level, id.Index-1)
			}
			parent := NodeID{Level: id.Level + 1, Index: id.Index >> 1}
			h := NodeHash(left, known[id])
			known[parent], added[parent] = h, h
			id = parent
		}
	}
	return added, nil
}

// Frontier is the complete subtrees that make up the tree of size leaves,
// left to right: all a log needs to append to it and to compute its root.
func Frontier(size uint64) []NodeID { return span{0, size}.nodes() }
