package translog

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
)

// Bundle is the evidence that an artifact was logged, made to travel with
// it (an offline license's proof file): its leaf, where it sits, the audit
// path and the signed tree head the path leads to. It checks with the
// public key alone.
type Bundle struct {
	Log       string   `json:"log"`
	LeafIndex uint64   `json:"leafIndex"`
	Leaf      LeafJSON `json:"leaf"`
	// InclusionProof is the audit path, standard base64 hashes.
	InclusionProof [][]byte `json:"inclusionProof"`
	// TreeHead is the signed tree head (a compact JWS).
	TreeHead string `json:"treeHead"`
}

// LeafJSON is a leaf as JSON carries it.
type LeafJSON struct {
	Kind           Kind   `json:"kind"`
	WorkspaceID    string `json:"workspaceId,omitempty"`
	Sequence       int64  `json:"sequence,omitempty"`
	ArtifactSHA256 string `json:"artifactSha256"` // lowercase hex
}

// JSON is the leaf as JSON carries it.
func (l Leaf) JSON() LeafJSON {
	return LeafJSON{Kind: l.Kind, WorkspaceID: l.WorkspaceID, Sequence: l.Sequence, ArtifactSHA256: hex.EncodeToString(l.ArtifactSHA256)}
}

// Leaf decodes j.
func (j LeafJSON) Leaf() (Leaf, error) {
	art, err := hex.DecodeString(j.ArtifactSHA256)
	if err != nil {
		return Leaf{}, fmt.Errorf("%w: artifactSha256 is not hex", ErrBadLeaf)
	}
	l := Leaf{Kind: j.Kind, WorkspaceID: j.WorkspaceID, Sequence: j.Sequence, ArtifactSHA256: art}
	_, err = l.Data()
	return l, err
}

// ErrNotLogged reports an artifact whose evidence does not show it logged.
var ErrNotLogged = errors.New("translog: the artifact is not shown to be logged")

// ParseBundle decodes a bundle file.
func ParseBundle(data []byte) (Bundle, error) {
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Bundle{}, fmt.Errorf("translog: proof bundle: %w", err)
	}
	if b.Log != LogID {
		return Bundle{}, fmt.Errorf("translog: proof bundle of log %q, want %q", b.Log, LogID)
	}
	return b, nil
}

// Matches checks only that the bundle's leaf is artifact's, for a caller
// that has verified the bundle's proof on its own.
func (b Bundle) Matches(artifact string) error {
	leaf, err := b.Leaf.Leaf()
	if err != nil {
		return err
	}
	return b.matches(leaf, artifact)
}

func (b Bundle) matches(leaf Leaf, artifact string) error {
	if !bytes.Equal(leaf.ArtifactSHA256, ArtifactHash(artifact)) {
		return fmt.Errorf("%w: the bundle is for another artifact (SHA-256 %s)", ErrNotLogged, b.Leaf.ArtifactSHA256)
	}
	return nil
}

// Verify checks that artifact (the exact string handed out, such as an
// RCV3_ license) is the bundle's leaf, that the tree head is signed by a
// key keyFor knows, and that the leaf is included in that tree. It returns
// the verified tree head, which an auditor can also check for consistency
// with later heads.
func (b Bundle) Verify(artifact string, keyFor jws.KeyFunc) (SignedTreeHead, error) {
	leaf, err := b.Leaf.Leaf()
	if err != nil {
		return SignedTreeHead{}, err
	}
	if err := b.matches(leaf, artifact); err != nil {
		return SignedTreeHead{}, err
	}
	sth, err := VerifyTreeHead(b.TreeHead, keyFor)
	if err != nil {
		return SignedTreeHead{}, err
	}
	h, err := leaf.Hash()
	if err != nil {
		return SignedTreeHead{}, err
	}
	if err := VerifyInclusion(b.LeafIndex, sth.Size, h, b.InclusionProof, sth.RootHash); err != nil {
		return SignedTreeHead{}, fmt.Errorf("%w: %w", ErrNotLogged, err)
	}
	return sth, nil
}

// BundleChecker checks proof bundles for pkg/artifact (artifact.
// InclusionVerifier): the tree head must be signed by a key of Keyset that
// verifies (a revoked key's head proves nothing).
type BundleChecker struct {
	Keyset []keys.PublicKey
}

// VerifyInclusion checks that proof, a bundle, shows artifact in the log.
func (c BundleChecker) VerifyInclusion(artifact, proof []byte) error {
	b, err := ParseBundle(proof)
	if err != nil {
		return err
	}
	_, err = b.Verify(string(artifact), func(kid string) (*rsa.PublicKey, error) {
		for _, k := range c.Keyset {
			if k.ID == kid && k.Key != nil && (k.State == "" || k.State.Verifies()) {
				return k.Key, nil
			}
		}
		return nil, fmt.Errorf("the tree head's key %q is not in the keyset", kid)
	})
	return err
}
