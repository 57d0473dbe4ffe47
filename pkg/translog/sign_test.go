package translog_test

import (
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/translog"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testKey(t *testing.T) keys.Key {
	t.Helper()
	f, err := keys.LoadOrCreateFile(filepath.Join("testdata", "test_key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyFor(k keys.Key) jws.KeyFunc {
	return func(kid string) (*rsa.PublicKey, error) {
		if kid != k.ID {
			return nil, errors.New("unknown kid")
		}
		return k.Public(), nil
	}
}

// The leaf format is a contract with every verifier: its bytes and hash are
// pinned.
func TestGoldenLeaf(t *testing.T) {
	l := translog.LicenseLeaf("ws_golden", 7, "RCV3_golden.token.value\n")
	data, err := l.Data()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := l.Hash()
	golden(t, "golden_leaf.txt", string(data)+"\n"+hex.EncodeToString(h)+"\n")
	back, err := translog.ParseLeaf(data)
	if err != nil || back.WorkspaceID != "ws_golden" || back.Sequence != 7 || back.Kind != translog.KindLicense {
		t.Fatalf("ParseLeaf = %+v, %v", back, err)
	}
	for name, bad := range map[string]string{
		"version":   strings.Replace(string(data), "v1", "v2", 1),
		"kind":      strings.Replace(string(data), "license", "licence", 1),
		"sequence":  strings.Replace(string(data), "\n7\n", "\n+7\n", 1),
		"hash case": strings.ToUpper(string(data)),
		"lines":     string(data) + "\n",
	} {
		if _, err := translog.ParseLeaf([]byte(bad)); !errors.Is(err, translog.ErrBadLeaf) {
			t.Errorf("%s: %v, want ErrBadLeaf", name, err)
		}
	}
	if _, err := (translog.Leaf{Kind: translog.KindLicense, WorkspaceID: "a\nb", ArtifactSHA256: make([]byte, 32)}).Data(); err == nil {
		t.Error("a workspace id with a line break was encoded")
	}
}

// A signed tree head is pinned byte for byte (RS256 is deterministic), and
// only the key it names verifies it.
func TestGoldenSignedTreeHead(t *testing.T) {
	k := testKey(t)
	head := translog.TreeHead{Size: 8, RootHash: unhex(t, ctRoots[8]), Timestamp: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	sth, err := translog.SignTreeHead(head, k.Signer, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden_tree_head.jws", sth.JWS+"\n")
	got, err := translog.VerifyTreeHead(sth.JWS, keyFor(k))
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 8 || hex.EncodeToString(got.RootHash) != ctRoots[8] || !got.Timestamp.Equal(head.Timestamp) || got.KeyID != k.ID {
		t.Fatalf("verified head = %+v", got)
	}
	if _, err := translog.VerifyTreeHead(sth.JWS, func(string) (*rsa.PublicKey, error) { return nil, errors.New("no") }); !errors.Is(err, translog.ErrTreeHead) {
		t.Fatalf("unknown key: %v", err)
	}
	// Another document signed by the same key is not a tree head.
	other, _ := jws.Sign(k.Signer, k.ID, []byte(`{"treeSize":8,"rootHash":"`+strings.Repeat("A", 43)+`=","timestamp":1}`))
	if _, err := translog.VerifyTreeHead(other, keyFor(k)); !errors.Is(err, translog.ErrTreeHead) {
		t.Fatalf("a JWS without the log id: %v", err)
	}
}

func TestBundle(t *testing.T) {
	k := testKey(t)
	tokens := []string{"RCV3_a", "RCV3_b", "RCV3_c", "RCV3_d", "RCV3_e"}
	var leaves [][]byte
	for i, tok := range tokens {
		h, _ := translog.LicenseLeaf("ws_1", int64(i+1), tok).Hash()
		leaves = append(leaves, h)
	}
	l := newMemLog(t, leaves, rand.New(rand.NewPCG(9, 9)))
	root, _ := translog.Root(t.Context(), 5, l.read)
	sth, _ := translog.SignTreeHead(translog.TreeHead{Size: 5, RootHash: root, Timestamp: time.Now()}, k.Signer, k.ID)
	proof, _ := translog.InclusionProof(t.Context(), 2, 5, l.read)
	b := translog.Bundle{Log: translog.LogID, LeafIndex: 2, Leaf: translog.LicenseLeaf("ws_1", 3, "RCV3_c").JSON(), InclusionProof: proof, TreeHead: sth.JWS}
	if _, err := b.Verify("RCV3_c\n", keyFor(k)); err != nil {
		t.Fatalf("the logged license: %v", err)
	}
	if _, err := b.Verify("RCV3_C", keyFor(k)); !errors.Is(err, translog.ErrNotLogged) {
		t.Fatalf("another license: %v", err)
	}
	if err := b.Matches("RCV3_c\n"); err != nil {
		t.Fatalf("Matches of the logged license: %v", err)
	}
	if err := b.Matches("RCV3_C"); !errors.Is(err, translog.ErrNotLogged) {
		t.Fatalf("Matches of another license: %v", err)
	}
	moved := b
	moved.Leaf.Sequence = 4 // the same artifact claimed under another sequence
	if _, err := moved.Verify("RCV3_c", keyFor(k)); !errors.Is(err, translog.ErrNotLogged) {
		t.Fatalf("a changed leaf: %v", err)
	}
	if _, err := b.Verify("RCV3_c", func(string) (*rsa.PublicKey, error) { return nil, errors.New("no") }); !errors.Is(err, translog.ErrTreeHead) {
		t.Fatalf("an unknown signer: %v", err)
	}

	// The same checks through the seam `licensectl verify -proof` uses.
	bundle, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	pub := keys.PublicKey{ID: k.ID, Algorithm: keys.AlgRS256, Key: k.Public(), State: keys.StateActive}
	if err := (translog.BundleChecker{Keyset: []keys.PublicKey{pub}}).VerifyInclusion([]byte("RCV3_c"), bundle); err != nil {
		t.Errorf("checker, the logged license: %v", err)
	}
	if err := (translog.BundleChecker{Keyset: []keys.PublicKey{pub}}).VerifyInclusion([]byte("RCV3_d"), bundle); !errors.Is(err, translog.ErrNotLogged) {
		t.Errorf("checker, another license: %v", err)
	}
	revoked := pub
	revoked.State = keys.StateRevoked
	if err := (translog.BundleChecker{Keyset: []keys.PublicKey{revoked}}).VerifyInclusion([]byte("RCV3_c"), bundle); err == nil {
		t.Error("checker: a tree head signed by a revoked key was accepted")
	}
	if err := (translog.BundleChecker{Keyset: []keys.PublicKey{pub}}).VerifyInclusion([]byte("RCV3_c"), []byte("{")); err == nil {
		t.Error("checker: a broken bundle was accepted")
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n got %q\nwant %q", name, got, want)
	}
}
