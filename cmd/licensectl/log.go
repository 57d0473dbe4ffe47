package main

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// keyFlags are the ways to name the key tree heads are checked with.
type keyFlags struct{ file, value *string }

func (k *keyFlags) add(fs *flag.FlagSet, fetchable bool) {
	also := ""
	if fetchable {
		also = "; default: the signer's active key"
	}
	k.file = fs.String("public-key", "", "file with the license public key (PEM, or the PUBLIC_LICENSE_KEY_V2 value)"+also)
	k.value = fs.String("public-key-v2", os.Getenv("LICENSING_PUBLIC_KEY_V2"), "the PUBLIC_LICENSE_KEY_V2 value (env LICENSING_PUBLIC_KEY_V2)")
}

// keyFor returns the verifier's key: the one given, or (when c is not nil)
// the signer's active one. The kid of a head must be the key's RFC 7638
// thumbprint, as the signer names its keys.
func (k *keyFlags) keyFor(ctx context.Context, c *client.Client) (jws.KeyFunc, error) {
	text := *k.value
	if *k.file != "" {
		b, err := os.ReadFile(*k.file)
		if err != nil {
			return nil, fmt.Errorf("read public key: %w", err)
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		if c == nil {
			return nil, usageError{"no public key: pass -public-key FILE or -public-key-v2 VALUE (or set LICENSING_PUBLIC_KEY_V2)"}
		}
		resp, err := c.Signer.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{})
		if err != nil {
			return nil, err
		}
		text = resp.GetPublicKeyPem()
	}
	pub, err := keys.ParsePublicKey(text)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	kid := keys.KeyID(pub)
	return func(got string) (*rsa.PublicKey, error) {
		if got != kid {
			return nil, fmt.Errorf("signed by key %s, not by the given key %s", got, kid)
		}
		return pub, nil
	}, nil
}

// verifiedHead reads -size (described by sizeUsage) and the key flags,
// connects, and fetches the signed tree head of that size (or the latest),
// checking its signature.
func verifiedHead(ctx context.Context, e *env, args []string, sizeUsage string) (*client.Client, *logv1.GetSignedTreeHeadResponse, tlog.SignedTreeHead, error) {
	fs := e.flags(true)
	size := fs.Uint64("size", 0, sizeUsage)
	var kf keyFlags
	kf.add(fs, true)
	if err := e.parse(fs, args); err != nil {
		return nil, nil, tlog.SignedTreeHead{}, err
	}
	c, err := e.api()
	if err != nil {
		return nil, nil, tlog.SignedTreeHead{}, err
	}
	keyFor, err := kf.keyFor(ctx, c)
	if err != nil {
		return nil, nil, tlog.SignedTreeHead{}, err
	}
	resp, err := c.Log.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{TreeSize: *size})
	if err != nil {
		return nil, nil, tlog.SignedTreeHead{}, err
	}
	sth, err := tlog.VerifyTreeHead(resp.GetTreeHead().GetJws(), keyFor)
	if err != nil {
		return nil, nil, tlog.SignedTreeHead{}, fmt.Errorf("the tree head does NOT verify: %w", err)
	}
	return c, resp, sth, nil
}

// logHead prints the latest signed tree head (or the one of -size), after
// checking its signature.
func logHead(ctx context.Context, e *env, args []string) error {
	_, resp, sth, err := verifiedHead(ctx, e, args, "the head of this tree size (default: the latest)")
	if err != nil {
		return err
	}
	return e.print(resp, []string{"SIZE", "ROOT (base64)", "SIGNED", "KID", "SIGNATURE"},
		[][]string{{strconv.FormatUint(sth.Size, 10), base64.StdEncoding.EncodeToString(sth.RootHash), sth.Timestamp.Format(time.RFC3339Nano), sth.KeyID, "verified"}})
}

// logProof fetches the inclusion proof of a license (WORKSPACE SEQUENCE) or
// of a leaf hash (-leaf-hash), checks it, and writes the bundle with -bundle.
// With -license FILE it also checks that the file is the logged license.
func logProof(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	leafHash := fs.String("leaf-hash", "", "the leaf hash (hex) instead of WORKSPACE SEQUENCE")
	size := fs.Uint64("size", 0, "prove inclusion in the tree of this size (default: the latest head)")
	bundleFile := fs.String("bundle", "", "write the proof bundle (JSON) to this file")
	licenseFile := fs.String("license", "", "check that this license file is the logged artifact")
	var kf keyFlags
	kf.add(fs, true)
	pos, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	req := &logv1.GetInclusionProofRequest{TreeSize: *size}
	switch {
	case *leafHash != "" && len(pos) == 0:
		h, err := hex.DecodeString(*leafHash)
		if err != nil || len(h) != tlog.HashSize {
			return usageError{"-leaf-hash must be 64 hexadecimal digits"}
		}
		req.Leaf = &logv1.GetInclusionProofRequest_LeafHash{LeafHash: h}
	case *leafHash == "" && len(pos) == 2:
		seq, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil || seq < 1 {
			return usageError{"SEQUENCE must be a license sequence (1, 2, ...), got " + strconv.Quote(pos[1])}
		}
		req.Leaf = &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: pos[0], Sequence: seq}}
	default:
		return usageError{"expected WORKSPACE SEQUENCE, or -leaf-hash HEX"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	keyFor, err := kf.keyFor(ctx, c)
	if err != nil {
		return err
	}
	resp, err := c.Log.GetInclusionProof(ctx, req)
	if err != nil {
		return err
	}
	b, err := tlog.ParseBundle([]byte(resp.GetBundleJson()))
	if err != nil {
		return err
	}
	sth, err := checkBundle(b, resp, keyFor)
	if err != nil {
		return err
	}
	if *licenseFile != "" {
		raw, err := os.ReadFile(*licenseFile)
		if err != nil {
			return fmt.Errorf("read license: %w", err)
		}
		// checkBundle has verified the proof; what is left is whether it
		// is this license's.
		if err := b.Matches(string(raw)); err != nil {
			return fmt.Errorf("%s is NOT the logged license: %w", *licenseFile, err)
		}
	}
	if *bundleFile != "" {
		if err := os.WriteFile(*bundleFile, []byte(resp.GetBundleJson()+"\n"), 0o644); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	en := resp.GetEntry()
	return e.print(resp, []string{"LEAF", "KIND", "WORKSPACE", "SEQ", "TREE SIZE", "PATH", "PROOF"},
		[][]string{{strconv.FormatUint(en.GetLeafIndex(), 10), en.GetLeaf().GetKind(), orDash(en.GetLeaf().GetWorkspaceId()), strconv.FormatInt(en.GetLeaf().GetSequence(), 10),
			strconv.FormatUint(sth.Size, 10), strconv.Itoa(len(resp.GetAuditPath())), "verified"}})
}

// checkBundle verifies a bundle's head and its leaf's inclusion (without
// an artifact to compare), and that it says what the response says.
func checkBundle(b tlog.Bundle, resp *logv1.GetInclusionProofResponse, keyFor jws.KeyFunc) (tlog.SignedTreeHead, error) {
	sth, err := tlog.VerifyTreeHead(b.TreeHead, keyFor)
	if err != nil {
		return sth, fmt.Errorf("the tree head does NOT verify: %w", err)
	}
	leaf, err := b.Leaf.Leaf()
	if err != nil {
		return sth, err
	}
	h, err := leaf.Hash()
	if err != nil {
		return sth, err
	}
	if err := tlog.VerifyInclusion(b.LeafIndex, sth.Size, h, b.InclusionProof, sth.RootHash); err != nil {
		return sth, fmt.Errorf("the inclusion proof does NOT verify: %w", err)
	}
	if b.LeafIndex != resp.GetEntry().GetLeafIndex() || sth.Size != resp.GetTreeHead().GetTreeSize() {
		return sth, errors.New("the bundle and the answer disagree")
	}
	return sth, nil
}

// logConsistency fetches and checks the proof that the tree of -first
// leaves is a prefix of the tree of -second (default: the latest).
func logConsistency(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	first := fs.Uint64("first", 0, "the older tree size (required)")
	second := fs.Uint64("second", 0, "the newer tree size (default: the latest head)")
	var kf keyFlags
	kf.add(fs, true)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *first == 0 {
		return usageError{"-first is required (a tree size > 0)"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	keyFor, err := kf.keyFor(ctx, c)
	if err != nil {
		return err
	}
	resp, err := c.Log.GetConsistencyProof(ctx, &logv1.GetConsistencyProofRequest{FirstTreeSize: *first, SecondTreeSize: *second})
	if err != nil {
		return err
	}
	if resp.GetFirstTreeHead() == nil || resp.GetSecondTreeHead() == nil {
		return fmt.Errorf("no signed tree head of size %d or %d to check the proof against: name sizes the log signed (licensectl log head)", resp.GetFirstTreeSize(), resp.GetSecondTreeSize())
	}
	a, err := tlog.VerifyTreeHead(resp.GetFirstTreeHead().GetJws(), keyFor)
	if err != nil {
		return fmt.Errorf("the head of %d does NOT verify: %w", resp.GetFirstTreeSize(), err)
	}
	b, err := tlog.VerifyTreeHead(resp.GetSecondTreeHead().GetJws(), keyFor)
	if err != nil {
		return fmt.Errorf("the head of %d does NOT verify: %w", resp.GetSecondTreeSize(), err)
	}
	if a.Size != resp.GetFirstTreeSize() || b.Size != resp.GetSecondTreeSize() {
		return errors.New("the signed heads are not of the sizes asked for")
	}
	if err := tlog.VerifyConsistency(a.Size, b.Size, a.RootHash, b.RootHash, resp.GetProof()); err != nil {
		return fmt.Errorf("the log is NOT consistent between %d and %d: %w", a.Size, b.Size, err)
	}
	return e.print(resp, []string{"FIRST", "SECOND", "PROOF", "CONSISTENT"},
		[][]string{{strconv.FormatUint(a.Size, 10), strconv.FormatUint(b.Size, 10), strconv.Itoa(len(resp.GetProof())), "verified"}})
}

// logAudit fetches every entry up to the latest head (or -size), rebuilds
// the tree from what the entries say and compares its root with the signed
// one: a rewritten entry anywhere shows.
func logAudit(ctx context.Context, e *env, args []string) error {
	c, head, sth, err := verifiedHead(ctx, e, args, "audit the tree of this size (default: the latest head)")
	if err != nil {
		return err
	}
	hashes := make([][]byte, 0, sth.Size)
	for uint64(len(hashes)) < sth.Size {
		resp, err := c.Log.GetEntries(ctx, &logv1.GetEntriesRequest{Start: uint64(len(hashes)), End: sth.Size})
		if err != nil {
			return err
		}
		if len(resp.GetEntries()) == 0 {
			return fmt.Errorf("the log returned no entries from %d", len(hashes))
		}
		for _, en := range resp.GetEntries() {
			l := en.GetLeaf()
			h, err := tlog.Leaf{Kind: tlog.Kind(l.GetKind()), WorkspaceID: l.GetWorkspaceId(), Sequence: l.GetSequence(), ArtifactSHA256: l.GetArtifactSha256()}.Hash()
			if err != nil {
				return fmt.Errorf("entry %d: %w", en.GetLeafIndex(), err)
			}
			if en.GetLeafIndex() != uint64(len(hashes)) {
				return fmt.Errorf("entry %d came where %d was expected", en.GetLeafIndex(), len(hashes))
			}
			hashes = append(hashes, h)
		}
	}
	if root := tlog.RootFromLeaves(hashes); string(root) != string(sth.RootHash) {
		return fmt.Errorf("the log's %d entries do NOT rebuild the signed root: an entry was changed after it was signed", sth.Size)
	}
	return e.print(head, []string{"SIZE", "ENTRIES", "ROOT"}, [][]string{{strconv.FormatUint(sth.Size, 10), strconv.Itoa(len(hashes)), "rebuilt and verified"}})
}

// logVerify checks an artifact (a license file) against its proof bundle
// with the public key alone: no network, for air-gapped sites.
func logVerify(_ context.Context, e *env, args []string) error {
	fs := e.flags(false)
	bundleFile := fs.String("bundle", "", "the proof bundle (JSON) that travels with the artifact (required)")
	var kf keyFlags
	kf.add(fs, false)
	pos, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	file, err := oneArg(pos, "FILE (the logged artifact, such as a license, or - for standard input)")
	if err != nil {
		return err
	}
	if *bundleFile == "" {
		return usageError{"-bundle FILE is required"}
	}
	keyFor, err := kf.keyFor(context.Background(), nil)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*bundleFile)
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	b, err := tlog.ParseBundle(raw)
	if err != nil {
		return err
	}
	var artifact []byte
	if file == "-" {
		artifact, err = readAll(e)
	} else {
		artifact, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read artifact: %w", err)
	}
	sth, err := b.Verify(string(artifact), keyFor)
	if err != nil {
		return fmt.Errorf("NOT shown to be logged: %w", err)
	}
	return e.print(map[string]any{"logged": true, "leafIndex": b.LeafIndex, "leaf": b.Leaf, "treeSize": sth.Size, "treeHeadSignedAt": sth.Timestamp, "kid": sth.KeyID},
		[]string{"LEAF", "KIND", "WORKSPACE", "SEQ", "TREE SIZE", "HEAD SIGNED", "LOGGED"},
		[][]string{{strconv.FormatUint(b.LeafIndex, 10), string(b.Leaf.Kind), orDash(b.Leaf.WorkspaceID), strconv.FormatInt(b.Leaf.Sequence, 10),
			strconv.FormatUint(sth.Size, 10), sth.Timestamp.Format(time.RFC3339), "verified"}})
}

// waitForProof asks for a license's inclusion proof until the sequencer has
// logged it (it runs every fraction of a second), for at most wait.
func waitForProof(ctx context.Context, c *client.Client, workspaceID string, sequence int64, wait time.Duration) (*logv1.GetInclusionProofResponse, error) {
	deadline := time.Now().Add(wait)
	for {
		resp, err := c.Log.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{
			Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: workspaceID, Sequence: sequence}},
		})
		retry := rpcerr.Code(err) == codes.FailedPrecondition && (rpcerr.Reason(err) == "LEAF_NOT_SEQUENCED" || rpcerr.Reason(err) == "LEAF_NOT_IN_TREE")
		if !retry || time.Now().After(deadline) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
