package translog

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrProof reports a proof that does not verify.
var ErrProof = errors.New("translog: proof does not verify")

// RootFromInclusionProof is the root that proof yields for the leaf hash at
// index in a tree of size leaves (RFC 9162 section 2.1.3.2).
func RootFromInclusionProof(index, size uint64, leafHash []byte, proof [][]byte) ([]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d in a tree of %d", ErrProof, index, size)
	}
	if len(leafHash) != HashSize {
		return nil, fmt.Errorf("%w: leaf hash has %d bytes", ErrProof, len(leafHash))
	}
	fn, sn, r := index, size-1, leafHash
	for i, p := range proof {
		if len(p) != HashSize {
			return nil, fmt.Errorf("%w: hash %d has %d bytes", ErrProof, i, len(p))
		}
		if sn == 0 {
			return nil, fmt.Errorf("%w: %d hashes, more than the tree is deep", ErrProof, len(proof))
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return nil, fmt.Errorf("%w: %d hashes, fewer than the tree is deep", ErrProof, len(proof))
	}
	return r, nil
}

// VerifyInclusion checks that the leaf hash sits at index in the tree of
// size leaves whose root is root.
func VerifyInclusion(index, size uint64, leafHash []byte, proof [][]byte, root []byte) error {
	got, err := RootFromInclusionProof(index, size, leafHash, proof)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, root) {
		return fmt.Errorf("%w: leaf %d does not lead to the root of the tree of %d", ErrProof, index, size)
	}
	return nil
}

// VerifyConsistency checks that the tree of size first with root
// firstRoot is a prefix of the tree of size second with root secondRoot
// (RFC 9162 section 2.1.4.2).
func VerifyConsistency(first, second uint64, firstRoot, secondRoot []byte, proof [][]byte) error {
	switch {
	case first > second:
		return fmt.Errorf("%w: first size %d is beyond the second %d", ErrProof, first, second)
	case first == second:
		if len(proof) != 0 || !bytes.Equal(firstRoot, secondRoot) {
			return fmt.Errorf("%w: equal sizes need an empty proof and equal roots", ErrProof)
		}
		return nil
	case first == 0:
		// The empty tree is a prefix of every tree.
		if len(proof) != 0 {
			return fmt.Errorf("%w: a proof from the empty tree must be empty", ErrProof)
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: empty proof", ErrProof)
	}
	for i, p := range proof {
		if len(p) != HashSize {
			return fmt.Errorf("%w: hash %d has %d bytes", ErrProof, i, len(p))
		}
	}
	path := proof
	if first&(first-1) == 0 { // a power of two: the old root is a node of the new tree
		path = append([][]byte{firstRoot}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn, sn = fn>>1, sn>>1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: %d hashes, more than the trees need", ErrProof, len(proof))
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = NodeHash(c, fr), NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return fmt.Errorf("%w: %d hashes, fewer than the trees need", ErrProof, len(proof))
	}
	if !bytes.Equal(fr, firstRoot) {
		return fmt.Errorf("%w: the proof does not lead to the root of the tree of %d", ErrProof, first)
	}
	if !bytes.Equal(sr, secondRoot) {
		return fmt.Errorf("%w: the proof does not lead to the root of the tree of %d", ErrProof, second)
	}
	return nil
}

// RootFromLeaves is MTH of every leaf hash, for auditors that fetched the
// whole log: it rebuilds the tree the way a log appends to it.
func RootFromLeaves(leafHashes [][]byte) []byte {
	if len(leafHashes) == 0 {
		return EmptyRoot()
	}
	// The stack holds the right border's complete subtrees, largest first.
	var stack [][]byte
	for i, h := range leafHashes {
		stack = append(stack, h)
		for n := uint64(i) + 1; n&1 == 0; n >>= 1 {
			l := len(stack)
			stack = append(stack[:l-2], NodeHash(stack[l-2], stack[l-1]))
		}
	}
	r := stack[len(stack)-1]
	for j := len(stack) - 2; j >= 0; j-- {
		r = NodeHash(stack[j], r)
	}
	return r
}
