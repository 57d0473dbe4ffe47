package translog_test

import "crypto/sha256"

// The reference: RFC 6962 section 2.1 written down as its recursive
// definitions, sharing no code with the package, so the package's stored-
// node proofs and its iterative verifier are checked against the text.

func refLeaf(d []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, d...))
	return h[:]
}

func refNode(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// refK is the largest power of two smaller than n.
func refK(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// refMTH is MTH(D[n]) over leaf hashes.
func refMTH(d [][]byte) []byte {
	switch n := len(d); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return d[0]
	default:
		k := refK(n)
		return refNode(refMTH(d[:k]), refMTH(d[k:]))
	}
}

// refPATH is PATH(m, D[n]).
func refPATH(m int, d [][]byte) [][]byte {
	n := len(d)
	if n <= 1 {
		return nil
	}
	k := refK(n)
	if m < k {
		return append(refPATH(m, d[:k]), refMTH(d[k:]))
	}
	return append(refPATH(m-k, d[k:]), refMTH(d[:k]))
}

// refSUBPROOF is SUBPROOF(m, D[n], b).
func refSUBPROOF(m int, d [][]byte, b bool) [][]byte {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return [][]byte{refMTH(d)}
	}
	k := refK(n)
	if m <= k {
		return append(refSUBPROOF(m, d[:k], b), refMTH(d[k:]))
	}
	return append(refSUBPROOF(m-k, d[k:], false), refMTH(d[:k]))
}

// refPROOF is PROOF(m, D[n]).
func refPROOF(m int, d [][]byte) [][]byte {
	if m == 0 || m == len(d) {
		return nil
	}
	return refSUBPROOF(m, d, true)
}
