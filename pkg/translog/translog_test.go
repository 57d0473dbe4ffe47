package translog_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cloudlicense/authority/pkg/translog"
)

// memLog is a log kept the way the signer stores it: every complete subtree
// once full, appended in batches of varying size.
type memLog struct {
	nodes  map[translog.NodeID][]byte
	leaves [][]byte
}

func newMemLog(t *testing.T, leaves [][]byte, rng *rand.Rand) *memLog {
	t.Helper()
	l := &memLog{nodes: map[translog.NodeID][]byte{}}
	for len(l.leaves) < len(leaves) {
		end := min(len(leaves), len(l.leaves)+1+rng.IntN(9))
		l.append(t, leaves[len(l.leaves):end])
	}
	return l
}

func (l *memLog) append(t *testing.T, batch [][]byte) {
	t.Helper()
	frontier := map[translog.NodeID][]byte{}
	for _, id := range translog.Frontier(uint64(len(l.leaves))) {
		frontier[id] = l.nodes[id]
	}
	added, err := translog.CompleteNodes(uint64(len(l.leaves)), frontier, batch)
	if err != nil {
		t.Fatal(err)
	}
	for id, h := range added {
		if _, dup := l.nodes[id]; dup {
			t.Fatalf("node %v written twice", id)
		}
		l.nodes[id] = h
	}
	l.leaves = append(l.leaves, batch...)
}

func (l *memLog) read(_ context.Context, ids []translog.NodeID) (map[translog.NodeID][]byte, error) {
	out := map[translog.NodeID][]byte{}
	for _, id := range ids {
		if h, ok := l.nodes[id]; ok {
			out[id] = h
		}
	}
	return out, nil
}

func leafHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = translog.LeafHash(fmt.Appendf(nil, "leaf %d", i))
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Certificate Transparency reference data (RFC 6962's test vectors as
// the CT and transparency-dev projects publish them).
var ctData = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

var ctRoots = []string{
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func ctLog(t *testing.T) *memLog {
	var leaves [][]byte
	for _, d := range ctData {
		leaves = append(leaves, translog.LeafHash(unhex(t, d)))
	}
	return newMemLog(t, leaves, rand.New(rand.NewPCG(1, 2)))
}

func TestGoldenRoots(t *testing.T) {
	l := ctLog(t)
	for size, want := range ctRoots {
		got, err := translog.Root(t.Context(), uint64(size), l.read)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("root of %d from stored nodes = %x, want %s", size, got, want)
		}
		if got := translog.RootFromLeaves(l.leaves[:size]); hex.EncodeToString(got) != want {
			t.Errorf("root of %d from the leaves = %x, want %s", size, got, want)
		}
	}
}

func TestGoldenProofs(t *testing.T) {
	l := ctLog(t)
	inclusion := []struct {
		index, size uint64
		proof       []string
	}{
		{0, 8, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, 8, []string{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	}
	for _, c := range inclusion {
		got, err := translog.InclusionProof(t.Context(), c.index, c.size, l.read)
		if err != nil {
			t.Fatal(err)
		}
		if hexes(got) != fmt.Sprint(c.proof) {
			t.Errorf("inclusion %d/%d = %s, want %v", c.index, c.size, hexes(got), c.proof)
		}
	}
	got, err := translog.ConsistencyProof(t.Context(), 2, 5, l.read)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}
	if hexes(got) != fmt.Sprint(want) {
		t.Errorf("consistency 2..5 = %s, want %v", hexes(got), want)
	}
}

func hexes(hs [][]byte) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = hex.EncodeToString(h)
	}
	return fmt.Sprint(s)
}

// Every proof of every leaf in every tree up to 70 leaves, and in a few
// larger ones, equals the reference's, and verifies.
func TestProofsMatchTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	all := leafHashes(1100)
	l := newMemLog(t, all, rng)
	sizes := []int{}
	for n := 1; n <= 70; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 127, 128, 129, 513, 1024, 1099, 1100)
	for _, n := range sizes {
		d := all[:n]
		root := refMTH(d)
		got, err := translog.Root(t.Context(), uint64(n), l.read)
		if err != nil || !bytes.Equal(got, root) {
			t.Fatalf("root of %d = %x, %v; want %x", n, got, err, root)
		}
		step := max(1, n/40) // every leaf of small trees, a spread of large ones
		for m := 0; m < n; m += step {
			proof, err := translog.InclusionProof(t.Context(), uint64(m), uint64(n), l.read)
			if err != nil {
				t.Fatal(err)
			}
			if want := refPATH(m, d); !slices.EqualFunc(proof, want, bytes.Equal) {
				t.Fatalf("inclusion %d/%d differs from RFC 6962 PATH", m, n)
			}
			if err := translog.VerifyInclusion(uint64(m), uint64(n), d[m], proof, root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", m, n, err)
			}
		}
		for m := 0; m <= n; m += step {
			proof, err := translog.ConsistencyProof(t.Context(), uint64(m), uint64(n), l.read)
			if err != nil {
				t.Fatal(err)
			}
			if want := refPROOF(m, d); !slices.EqualFunc(proof, want, bytes.Equal) {
				t.Fatalf("consistency %d..%d differs from RFC 6962 PROOF", m, n)
			}
			if err := translog.VerifyConsistency(uint64(m), uint64(n), refMTH(d[:m]), root, proof); err != nil {
				t.Fatalf("consistency %d..%d: %v", m, n, err)
			}
		}
	}
}

// Any change to a proof, an index, a size or a root is refused.
func TestVerifiersRefuseWhatDoesNotHold(t *testing.T) {
	d := leafHashes(13)
	l := newMemLog(t, d, rand.New(rand.NewPCG(5, 6)))
	root := refMTH(d)
	proof, _ := translog.InclusionProof(t.Context(), 6, 13, l.read)
	flip := func(p [][]byte, i int) [][]byte {
		c := make([][]byte, len(p))
		for j := range p {
			c[j] = slices.Clone(p[j])
		}
		c[i][0] ^= 1
		return c
	}
	bad := map[string]error{
		"right":            translog.VerifyInclusion(6, 13, d[6], proof, root),
		"flipped hash":     translog.VerifyInclusion(6, 13, d[6], flip(proof, 1), root),
		"other leaf":       translog.VerifyInclusion(6, 13, d[7], proof, root),
		"other index":      translog.VerifyInclusion(7, 13, d[6], proof, root),
		"other size":       translog.VerifyInclusion(6, 8, d[6], proof, root),
		"shorter":          translog.VerifyInclusion(6, 13, d[6], proof[:len(proof)-1], root),
		"longer":           translog.VerifyInclusion(6, 13, d[6], append(slices.Clone(proof), root), root),
		"index beyond":     translog.VerifyInclusion(13, 13, d[6], proof, root),
		"other root":       translog.VerifyInclusion(6, 13, d[6], proof, refMTH(d[:12])),
		"short hash entry": translog.VerifyInclusion(6, 13, d[6], [][]byte{proof[0][:31], proof[1], proof[2], proof[3]}, root),
	}
	for name, err := range bad {
		if (name == "right") != (err == nil) {
			t.Errorf("inclusion, %s: %v", name, err)
		}
		if err != nil && !errors.Is(err, translog.ErrProof) {
			t.Errorf("inclusion, %s: %v is not ErrProof", name, err)
		}
	}
	cons, _ := translog.ConsistencyProof(t.Context(), 5, 13, l.read)
	old := refMTH(d[:5])
	badc := map[string]error{
		"right":        translog.VerifyConsistency(5, 13, old, root, cons),
		"flipped hash": translog.VerifyConsistency(5, 13, old, root, flip(cons, 0)),
		"other old":    translog.VerifyConsistency(5, 13, refMTH(d[:4]), root, cons),
		"other new":    translog.VerifyConsistency(5, 13, old, refMTH(d[:12]), cons),
		"other sizes":  translog.VerifyConsistency(6, 13, old, root, cons),
		"shorter":      translog.VerifyConsistency(5, 13, old, root, cons[:len(cons)-1]),
		"empty":        translog.VerifyConsistency(5, 13, old, root, nil),
		"backwards":    translog.VerifyConsistency(13, 5, root, old, cons),
		"same, proof":  translog.VerifyConsistency(13, 13, root, root, cons),
		"same, roots":  translog.VerifyConsistency(13, 13, root, old, nil),
	}
	for name, err := range badc {
		if (name == "right") != (err == nil) {
			t.Errorf("consistency, %s: %v", name, err)
		}
	}
}

// A node the store lost (or never had) is an error, never a wrong proof.
func TestMissingNodeIsAnError(t *testing.T) {
	d := leafHashes(9)
	l := newMemLog(t, d, rand.New(rand.NewPCG(7, 8)))
	delete(l.nodes, translog.NodeID{Level: 3, Index: 0})
	if _, err := translog.InclusionProof(t.Context(), 8, 9, l.read); err == nil {
		t.Fatal("a proof was made without the node it needs")
	}
	if _, err := translog.InclusionProof(t.Context(), 9, 9, l.read); !errors.Is(err, translog.ErrIndex) {
		t.Fatalf("leaf 9 of 9: %v, want ErrIndex", err)
	}
}
