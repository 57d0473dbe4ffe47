package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cloudlicense/authority/pkg/client"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// offlineIssue issues an offline license for a known workspace and writes
// the RCV3_ string to a file (-o FILE) or standard output, to paste into the
// air-gapped workspace ("Apply Offline License"). It verifies with the public
// key alone: licensectl license verify. With -proof it also writes the
// evidence that the license was logged, which travels with it and checks
// offline: licensectl log verify.
func offlineIssue(ctx context.Context, e *env, args []string) error {
	// -o names the output file here, so this command builds its own flags.
	fs := flag.NewFlagSet("licensectl "+e.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	e.conn = client.Defaults
	fs.StringVar(&e.conn.APIKey, "api-key", os.Getenv("LICENSING_ADMIN_KEY"), "API key (env LICENSING_ADMIN_KEY)")
	fs.StringVar(&e.conn.SignerAddr, "signer", envOr("LICENSING_SIGNER_ADDR", e.conn.SignerAddr), "signer address")
	out := fs.String("o", "", "write the license to this file (default: standard output)")
	address := fs.String("address", "", "bind it to this site address (default: the workspace's current binding)")
	proofFile := fs.String("proof", "", "also write the license's issuance log proof bundle to this file (waits for the log, a moment)")
	proofWait := fs.Duration("proof-wait", 30*time.Second, "how long to wait for the license to be logged")
	var ch changeFlags
	ch.flags(fs)
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{
		IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, Address: *address,
	})
	if err != nil {
		return err
	}
	l := resp.GetLicense()
	if *proofFile != "" {
		proof, err := waitForProof(ctx, c, ws, l.GetSequence(), *proofWait)
		if err != nil {
			return fmt.Errorf("license %s (sequence %d) issued, but its log proof is not ready: %w (retry with licensectl log proof %s %d -bundle FILE)",
				l.GetId(), l.GetSequence(), err, ws, l.GetSequence())
		}
		if err := os.WriteFile(*proofFile, []byte(proof.GetBundleJson()+"\n"), 0o644); err != nil {
			return fmt.Errorf("write proof: %w", err)
		}
		fmt.Fprintf(e.stderr, "issuance log proof (leaf %d, tree of %d) written to %s\n", proof.GetEntry().GetLeafIndex(), proof.GetTreeHead().GetTreeSize(), *proofFile)
	}
	if *out == "" {
		_, err = fmt.Fprintln(e.stdout, l.GetToken())
		return err
	}
	if err := os.WriteFile(*out, []byte(l.GetToken()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write license: %w", err)
	}
	fmt.Fprintf(e.stderr, "offline license %s (sequence %d, %s v%d) written to %s\n", l.GetId(), l.GetSequence(), l.GetPlanId(), l.GetPlanVersion(), *out)
	return nil
}
