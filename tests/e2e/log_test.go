package e2e

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/workspace"
)

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, body)
		}
	}
	return resp.StatusCode
}

// TestIssuanceLog: every license (here an offline one, whose proof travels
// with it), the supported-versions document and the keyset are logged; the
// proofs check with the public key alone, through licensectl and the
// gateway's public endpoints; and a row rewritten in Postgres shows.
func TestIssuanceLog(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	creds, err := ws.Register(ctx, createToken(t, sys, createCustomer(t, sys, "Audited"), "", 1), "a@audited.test", "Audited")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.ParsePublicKey(creds.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFor := func(kid string) (*rsa.PublicKey, error) {
		if kid != keys.KeyID(pub) {
			return nil, errors.New("unknown kid")
		}
		return pub, nil
	}
	dir := t.TempDir()
	keyFile, licFile, proofFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "license.txt"), filepath.Join(dir, "proof.json")
	_ = os.WriteFile(keyFile, []byte(creds.PublicKey), 0o600)

	// An offline license and its proof, for an air-gapped site.
	eventually(t, 20*time.Second, "license 1", func() (bool, error) {
		out, _, err := sys.Licensectl(ctx, "", "licenses", "list", creds.WorkspaceID)
		return err == nil && strings.Contains(out, "lic_"), err
	})
	_, errOut, err := sys.Licensectl(ctx, "", "offline", "issue", creds.WorkspaceID, "-address", "https://air.audited.test", "-o", licFile, "-proof", proofFile)
	if err != nil {
		t.Fatalf("offline issue -proof: %v\n%s", err, errOut)
	}
	out, errOut, err := sys.Licensectl(ctx, "", "log", "verify", "-public-key", keyFile, "-bundle", proofFile, licFile)
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("log verify: %v\n%s%s", err, out, errOut)
	}
	lic, _ := os.ReadFile(licFile)
	raw, _ := os.ReadFile(proofFile)
	bundle, err := tlog.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Verify(string(lic), keyFor); err != nil {
		t.Fatalf("the bundle, with pkg/translog: %v", err)
	}
	seq := bundle.Leaf.Sequence
	if bundle.Leaf.WorkspaceID != creds.WorkspaceID || seq < 2 {
		t.Fatalf("the bundle's leaf is %+v", bundle.Leaf)
	}
	// Another license does not pass with this proof.
	other := filepath.Join(dir, "other.txt")
	_ = os.WriteFile(other, []byte(strings.Replace(string(lic), "RCV3_", "RCV3_x", 1)), 0o600)
	if _, errOut, err := sys.Licensectl(ctx, "", "log", "verify", "-public-key", keyFile, "-bundle", proofFile, other); err == nil || !strings.Contains(errOut, "NOT shown to be logged") {
		t.Fatalf("another artifact with this proof: %v %s", err, errOut)
	}

	// The supported-versions document is logged when signed.
	var doc struct{ Signed string }
	if code := getJSON(t, sys.GatewayURL+"/v2/server/supportedVersions", &doc); code != http.StatusOK || doc.Signed == "" {
		t.Fatalf("supported versions: %d", code)
	}
	svHash := sha256.Sum256([]byte(doc.Signed))

	// The gateway's public endpoints, no credentials.
	var kinds map[string]int
	eventually(t, 20*time.Second, "the supported-versions document in the log", func() (bool, error) {
		var entries struct {
			Entries []struct {
				LeafIndex uint64        `json:"leafIndex"`
				Leaf      tlog.LeafJSON `json:"leaf"`
			} `json:"entries"`
		}
		if code := getJSON(t, sys.GatewayURL+"/v1/log/entries?start=0&end=1000", &entries); code != http.StatusOK {
			return false, fmt.Errorf("entries: %d", code)
		}
		kinds = map[string]int{}
		found := false
		for _, e := range entries.Entries {
			kinds[string(e.Leaf.Kind)]++
			found = found || e.Leaf.ArtifactSHA256 == hex.EncodeToString(svHash[:])
		}
		return found, nil
	})
	if kinds["keyset"] != 1 || kinds["license"] < 2 {
		t.Errorf("entries by kind: %v", kinds)
	}

	var head struct {
		TreeSize uint64 `json:"treeSize"`
		RootHash []byte `json:"rootHash"`
		Signed   string `json:"signed"`
	}
	if code := getJSON(t, sys.GatewayURL+"/v1/log/tree-head", &head); code != http.StatusOK {
		t.Fatalf("tree head: %d", code)
	}
	sth, err := tlog.VerifyTreeHead(head.Signed, jws.KeyFunc(keyFor))
	if err != nil || sth.Size != head.TreeSize || sth.Size < uint64(len(kinds)) {
		t.Fatalf("the gateway's tree head: %+v, %v", sth, err)
	}
	var gwBundle tlog.Bundle
	if code := getJSON(t, fmt.Sprintf("%s/v1/log/inclusion?workspaceId=%s&sequence=%d", sys.GatewayURL, creds.WorkspaceID, seq), &gwBundle); code != http.StatusOK {
		t.Fatalf("inclusion: %d", code)
	}
	if gs, err := gwBundle.Verify(string(lic), keyFor); err != nil || gs.Size != sth.Size {
		t.Fatalf("the gateway's bundle against the latest head: %+v, %v", gs, err)
	}
	var cons struct {
		Consistency   [][]byte `json:"consistency"`
		FirstTreeHead struct {
			Signed string `json:"signed"`
		} `json:"firstTreeHead"`
	}
	old, _ := tlog.VerifyTreeHead(bundle.TreeHead, keyFor)
	if code := getJSON(t, fmt.Sprintf("%s/v1/log/consistency?first=%d&second=%d", sys.GatewayURL, old.Size, sth.Size), &cons); code != http.StatusOK {
		t.Fatalf("consistency: %d", code)
	}
	if err := tlog.VerifyConsistency(old.Size, sth.Size, old.RootHash, sth.RootHash, cons.Consistency); err != nil {
		t.Fatalf("the head the proof bundle named is not a prefix of the latest: %v", err)
	}
	if code := getJSON(t, fmt.Sprintf("%s/v1/log/inclusion?workspaceId=%s&sequence=99", sys.GatewayURL, creds.WorkspaceID), nil); code != http.StatusNotFound {
		t.Errorf("an unknown license: %d, want 404", code)
	}

	// licensectl, online.
	for _, args := range [][]string{
		{"log", "head"},
		{"log", "proof", creds.WorkspaceID, fmt.Sprint(seq), "-license", licFile},
		{"log", "consistency", "-first", fmt.Sprint(old.Size), "-second", fmt.Sprint(sth.Size)},
		{"log", "audit", "-size", fmt.Sprint(sth.Size)},
	} {
		if out, errOut, err := sys.Licensectl(ctx, "", args...); err != nil || !strings.Contains(out, "verified") {
			t.Fatalf("licensectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
	}

	// Someone with the database's keys rewrites the offline license's leaf
	// (the triggers refuse, so they turn them off): the audit and the
	// license's proof fail against the signed head.
	execSQL(t, sys, fmt.Sprintf(`SET session_replication_role = replica;
		UPDATE signer.log_leaves SET artifact_sha256 = sha256('forged'::bytea) WHERE workspace_id = '%s' AND sequence = %d AND kind = 'license';
		SET session_replication_role = origin`, creds.WorkspaceID, seq))
	if out, errOut, err := sys.Licensectl(ctx, "", "log", "audit", "-size", fmt.Sprint(sth.Size)); err == nil || !strings.Contains(errOut, "do NOT rebuild the signed root") {
		t.Fatalf("audit after a rewritten leaf: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := sys.Licensectl(ctx, "", "log", "proof", creds.WorkspaceID, fmt.Sprint(seq)); err == nil || !strings.Contains(errOut, "does NOT verify") {
		t.Fatalf("proof after a rewritten leaf: %v\n%s%s", err, out, errOut)
	}
	// A rewritten subtree hash breaks the proofs that pass through it: here
	// the sibling of license 1's leaf.
	var first tlog.Bundle
	if code := getJSON(t, fmt.Sprintf("%s/v1/log/inclusion?workspaceId=%s&sequence=1", sys.GatewayURL, creds.WorkspaceID), &first); code != http.StatusOK {
		t.Fatalf("inclusion of license 1: %d", code)
	}
	execSQL(t, sys, fmt.Sprintf(`SET session_replication_role = replica;
		UPDATE signer.log_nodes SET hash = sha256(hash) WHERE level = 0 AND idx = %d;
		SET session_replication_role = origin`, first.LeafIndex^1))
	if out, errOut, err := sys.Licensectl(ctx, "", "log", "proof", "-leaf-hash", leafHashOf(t, sys, creds.WorkspaceID, 1)); err == nil || !strings.Contains(errOut, "does NOT verify") {
		t.Fatalf("proof through a rewritten node: %v\n%s%s", err, out, errOut)
	}
}

// leafHashOf is the leaf hash of a workspace's license sequence, computed
// from the license itself (as a workspace holding it would).
func leafHashOf(t *testing.T, sys *system, workspaceID string, seq int64) string {
	t.Helper()
	admin := adminClient(t, sys)
	resp, err := admin.Signer.ListLicenses(t.Context(), &signerv1.ListLicensesRequest{WorkspaceId: workspaceID})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range resp.GetLicenses() {
		if l.GetSequence() == seq {
			h, err := tlog.LicenseLeaf(workspaceID, seq, l.GetToken()).Hash()
			if err != nil {
				t.Fatal(err)
			}
			return hex.EncodeToString(h)
		}
	}
	t.Fatalf("no license %d", seq)
	return ""
}
