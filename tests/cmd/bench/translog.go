package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/keys"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/load"
)

var (
	logEntries      = flag.Int("log-entries", 1_000_000, "leaves the issuance log figures append and prove at (0 skips them)")
	logProofWorkers = flag.Int("log-proof-workers", 8, "concurrent inclusion-proof requests")
)

// benchLeaf is the i-th leaf the log figures append: a license-shaped leaf
// whose artifact the proofs can name again.
func benchLeaf(i int) tlog.Leaf {
	return tlog.LicenseLeaf(fmt.Sprintf("bench-log-%04d", i%5000), int64(i/5000+1), fmt.Sprintf("RCV3_bench_log_%d", i))
}

// logFigures measures the issuance log in the running signer: the rate at
// which its sequencer appends queued leaves (log_append, beside the
// issuance rate measured in the same run: appending must never be what
// limits issuance), and the latency of inclusion proofs through LogService
// once the log holds -log-entries leaves. The leaves are queued with one
// COPY into the signer's queue, exactly the rows issuance writes, so the
// sequencer, its SQL and its signed heads are the production ones.
func logFigures(ctx context.Context, w io.Writer, o options, admin *client.Client, dbURL string, issue load.Result) error {
	n := *logEntries
	if n <= 0 {
		return nil
	}
	pubResp, err := admin.Signer.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{})
	if err != nil {
		return err
	}
	pub, err := keys.ParsePublicKey(pubResp.GetPublicKeyPem())
	if err != nil {
		return err
	}
	keyFor := func(kid string) (*rsa.PublicKey, error) {
		if kid != pubResp.GetKid() {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return pub, nil
	}
	before, err := admin.Log.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{})
	if err != nil {
		return err
	}
	base := before.GetTreeHead().GetTreeSize()

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(os.Stderr, "bench: queueing %d leaves for the issuance log ...\n", n)
	i := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"signer", "log_queue"}, []string{"kind", "workspace_id", "sequence", "artifact_sha256"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			l := benchLeaf(i)
			i++
			return []any{string(l.Kind), l.WorkspaceID, l.Sequence, l.ArtifactSHA256}, nil
		})); err != nil {
		return fmt.Errorf("queue the log's leaves: %w", err)
	}
	start := time.Now()
	var size uint64
	for size < base+uint64(n) {
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("the sequencer appended %d of %d leaves in 15 minutes", size-base, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		h, err := admin.Log.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{})
		if err != nil {
			return err
		}
		size = h.GetTreeHead().GetTreeSize()
	}
	appendRate := float64(n) / time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "bench: inclusion proofs at %d leaves ...\n", size)

	prove := func(ctx context.Context, j int) (*logv1.GetInclusionProofResponse, error) {
		h, _ := benchLeaf(j).Hash()
		return admin.Log.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_LeafHash{LeafHash: h}})
	}
	// The proofs measured are proofs: a sample is checked first.
	for _, j := range []int{0, 1, n / 2, n - 1} {
		resp, err := prove(ctx, j)
		if err != nil {
			return fmt.Errorf("proof of leaf %d: %w", j, err)
		}
		b, err := tlog.ParseBundle([]byte(resp.GetBundleJson()))
		if err != nil {
			return err
		}
		// Verify also checks the bundle is for leaf j's artifact.
		if _, err := b.Verify(fmt.Sprintf("RCV3_bench_log_%d", j), keyFor); err != nil {
			return errors.Join(fmt.Errorf("the proof of leaf %d does not verify", j), err)
		}
	}
	proofs := load.Run(ctx, "log_proof", *logProofWorkers, o.duration, func(ctx context.Context, w, i int) error {
		_, err := prove(ctx, rand.IntN(n))
		return err
	})

	fmt.Fprintf(w, "\nIssuance log: %d leaves appended by the signer's sequencer in %.1fs, then proofs at %d leaves\n", n, float64(n)/appendRate, size)
	fmt.Fprintf(w, "%-14s %10.0f/s  %.1f x issuance (%.0f/s)\n", "log_append", appendRate, appendRate/issue.Rate(), issue.Rate())
	fmt.Fprintf(w, "%-14s %10.0f/s %8.2fms %8.2fms %8d\n\n", "log_proof", proofs.Rate(), msf(proofs.P50), msf(proofs.P99), proofs.Errors)
	if proofs.FirstErr != nil {
		fmt.Fprintf(w, "    first error: %v\n", proofs.FirstErr)
	}
	fmt.Fprintf(w, "BENCH name=log_append value=%.1f unit=per_s baseline=issuance ratio=%.2f entries=%d\n", appendRate, appendRate/issue.Rate(), n)
	fmt.Fprintf(w, "BENCH name=log_proof value=%.1f unit=per_s entries=%d\n", proofs.Rate(), size)
	fmt.Fprintf(w, "BENCH name=log_proof_p50 value=%.3f unit=ms entries=%d\n", msf(proofs.P50), size)
	fmt.Fprintf(w, "BENCH name=log_proof_p99 value=%.3f unit=ms entries=%d\n", msf(proofs.P99), size)
	return nil
}
