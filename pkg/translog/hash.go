// Package translog is the issuance log's verifiable side: RFC 6962 / RFC
// 9162 Merkle tree hashing, the leaf every signed artifact is logged as,
// inclusion and consistency proofs (built from stored subtree hashes with
// O(log n) reads, and checked), and signed tree heads. Workspaces, auditors
// and air-gapped sites import it to check that what they hold was logged;
// the signer imports it to build the log.
package translog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// HashSize is the size of every hash in the log (SHA-256).
const HashSize = sha256.Size

// Domain separation prefixes of RFC 6962 section 2.1: a leaf can never be
// mistaken for an interior node, so no second preimage can shorten a proof.
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// LeafHash is MTH({d}) = SHA-256(0x00 || d).
func LeafHash(data []byte) []byte {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(data)
	return h.Sum(nil)
}

// NodeHash is SHA-256(0x01 || left || right).
func NodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{nodePrefix})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// EmptyRoot is the root of the empty tree, SHA-256 of the empty string.
func EmptyRoot() []byte {
	h := sha256.Sum256(nil)
	return h[:]
}

// Kind is what a leaf records the signing of.
type Kind string

// The artifacts the signer logs.
const (
	// KindLicense is a license as handed to its workspace (the RCV3_ string).
	KindLicense Kind = "license"
	// KindSupportedVersions is a signed supported-versions JWT.
	KindSupportedVersions Kind = "supported-versions"
	// KindKeyset is a change of the license keyset (its published JSON).
	KindKeyset Kind = "keyset"
)

func (k Kind) valid() bool {
	return k == KindLicense || k == KindSupportedVersions || k == KindKeyset
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); k.valid() {
		return k, nil
	}
	return "", fmt.Errorf("translog: unknown kind %q (want license, supported-versions or keyset)", s)
}

// Leaf is one log entry: which artifact was signed, for whom. The artifact
// itself stays where it lives (the license row, the workspace's file); the
// leaf binds its SHA-256, so anyone holding the artifact can rebuild the
// leaf and check its inclusion.
type Leaf struct {
	Kind Kind
	// WorkspaceID is the license's workspace; "" for artifacts of no
	// workspace.
	WorkspaceID string
	// Sequence is the license's sequence in its workspace, or the
	// artifact's own counter; 0 when it has none.
	Sequence int64
	// ArtifactSHA256 is SHA-256 of the artifact's exact bytes.
	ArtifactSHA256 []byte
}

// ArtifactHash is SHA-256 of an artifact as handed out, surrounding white
// space removed (a license file ends with a newline; the license does not).
func ArtifactHash(artifact string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(artifact)))
	return h[:]
}

// LicenseLeaf is the leaf of a workspace's license (the RCV3_ string).
func LicenseLeaf(workspaceID string, sequence int64, token string) Leaf {
	return Leaf{Kind: KindLicense, WorkspaceID: workspaceID, Sequence: sequence, ArtifactSHA256: ArtifactHash(token)}
}

// leafVersion starts every leaf's data, so a later format cannot be read as
// this one.
const leafVersion = "licensing-log/v1"

// ErrBadLeaf reports a leaf that cannot be encoded or decoded.
var ErrBadLeaf = errors.New("translog: bad leaf")

// Data is the leaf's canonical bytes, the input of its leaf hash: one line
// each for the format, the kind, the workspace, the sequence and the
// artifact's hash in lowercase hex. Text, so an auditor can read entries.
func (l Leaf) Data() ([]byte, error) {
	if !l.Kind.valid() {
		return nil, fmt.Errorf("%w: kind %q", ErrBadLeaf, l.Kind)
	}
	if strings.ContainsAny(l.WorkspaceID, "\n\r") {
		return nil, fmt.Errorf("%w: workspace id holds a line break", ErrBadLeaf)
	}
	if l.Sequence < 0 {
		return nil, fmt.Errorf("%w: negative sequence %d", ErrBadLeaf, l.Sequence)
	}
	if len(l.ArtifactSHA256) != HashSize {
		return nil, fmt.Errorf("%w: artifact hash has %d bytes, want %d", ErrBadLeaf, len(l.ArtifactSHA256), HashSize)
	}
	var b bytes.Buffer
	for _, line := range []string{leafVersion, string(l.Kind), l.WorkspaceID, strconv.FormatInt(l.Sequence, 10)} {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteString(hex.EncodeToString(l.ArtifactSHA256))
	return b.Bytes(), nil
}

// Hash is the leaf's Merkle leaf hash.
func (l Leaf) Hash() ([]byte, error) {
	d, err := l.Data()
	if err != nil {
		return nil, err
	}
	return LeafHash(d), nil
}

// ParseLeaf decodes what Data encodes.
func ParseLeaf(data []byte) (Leaf, error) {
	parts := strings.Split(string(data), "\n")
	if len(parts) != 5 || parts[0] != leafVersion {
		return Leaf{}, fmt.Errorf("%w: not a %s leaf", ErrBadLeaf, leafVersion)
	}
	kind, err := ParseKind(parts[1])
	if err != nil {
		return Leaf{}, fmt.Errorf("%w: %w", ErrBadLeaf, err)
	}
	seq, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || strconv.FormatInt(seq, 10) != parts[3] {
		return Leaf{}, fmt.Errorf("%w: sequence %q", ErrBadLeaf, parts[3])
	}
	art, err := hex.DecodeString(parts[4])
	if err != nil || hex.EncodeToString(art) != parts[4] {
		return Leaf{}, fmt.Errorf("%w: artifact hash %q is not lowercase hex", ErrBadLeaf, parts[4])
	}
	l := Leaf{Kind: kind, WorkspaceID: parts[2], Sequence: seq, ArtifactSHA256: art}
	if _, err := l.Data(); err != nil {
		return Leaf{}, err
	}
	return l, nil
}
