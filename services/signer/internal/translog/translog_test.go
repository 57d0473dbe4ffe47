package translog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
)

func enqueue(t *testing.T, pool *pgxpool.Pool, from, to int) []tlog.Leaf {
	t.Helper()
	var leaves []tlog.Leaf
	err := pgdb.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		leaves = leaves[:0]
		for i := from; i < to; i++ {
			l := tlog.LicenseLeaf(fmt.Sprintf("ws_%d", i%7), int64(i+1), fmt.Sprintf("RCV3_license_%d", i))
			leaves = append(leaves, l)
			if err := translog.Enqueue(t.Context(), tx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leaves
}

func drain(t *testing.T, seq *translog.Sequencer) {
	t.Helper()
	for {
		n, err := seq.Once(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// checkLog verifies the latest head's signature, rebuilds its root from the
// entries, and checks every entry's inclusion proof against it.
func checkLog(t *testing.T, st *translog.Store, k signertest.Keys, want []tlog.Leaf) tlog.SignedTreeHead {
	t.Helper()
	ctx := t.Context()
	head, err := st.TreeHead(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	sth, err := tlog.VerifyTreeHead(head.JWS, k.KeyFor())
	if err != nil {
		t.Fatal(err)
	}
	if sth.Size != uint64(len(want)) || !bytes.Equal(sth.RootHash, head.RootHash) {
		t.Fatalf("head: size %d (want %d)", sth.Size, len(want))
	}
	entries, err := st.Entries(ctx, 0, sth.Size)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for i, e := range entries {
		h, err := e.Leaf.Hash() // recomputed from what the entry says, not its stored hash
		if err != nil {
			t.Fatal(err)
		}
		if e.Index != uint64(i) || !bytes.Equal(e.Leaf.ArtifactSHA256, want[i].ArtifactSHA256) {
			t.Fatalf("entry %d is %+v, want %+v", i, e, want[i])
		}
		hashes = append(hashes, h)
	}
	if !bytes.Equal(tlog.RootFromLeaves(hashes), sth.RootHash) {
		t.Fatal("the entries do not rebuild the signed root")
	}
	for i, h := range hashes {
		proof, err := tlog.InclusionProof(ctx, uint64(i), sth.Size, st.Nodes)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(uint64(i), sth.Size, h, proof, sth.RootHash); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	return sth
}

func TestSequencerAppendsInQueueOrderAndSignsEachBatch(t *testing.T) {
	pool := signertest.NewPool(t)
	k := signertest.NewKeys(t)
	st := translog.NewStore(pool)
	seq := translog.NewSequencer(pool, k, 4, time.Hour, slog.Default())

	if _, err := st.TreeHead(t.Context(), 0, true); !errors.Is(err, translog.ErrEmptyLog) {
		t.Fatalf("before the first batch: %v", err)
	}
	drain(t, seq) // signs the empty tree
	empty, err := st.TreeHead(t.Context(), 0, false)
	if err != nil || empty.Size != 0 || !bytes.Equal(empty.RootHash, tlog.EmptyRoot()) {
		t.Fatalf("empty head: %+v, %v", empty, err)
	}

	var want []tlog.Leaf
	want = append(want, enqueue(t, pool, 0, 10)...)
	drain(t, seq)
	first := checkLog(t, st, k, want)
	want = append(want, enqueue(t, pool, 10, 23)...)
	drain(t, seq)
	second := checkLog(t, st, k, want)

	// A head per batch of 4: 4, 8, 10, 14, ...; each earlier head is a
	// prefix of the later ones.
	for _, size := range []uint64{4, 8, 10, 14, 18, 22, 23} {
		h, err := st.TreeHead(t.Context(), size, false)
		if err != nil {
			t.Fatalf("head of %d: %v", size, err)
		}
		proof, err := tlog.ConsistencyProof(t.Context(), size, second.Size, st.Nodes)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyConsistency(size, second.Size, h.RootHash, second.RootHash, proof); err != nil {
			t.Fatalf("%d..%d: %v", size, second.Size, err)
		}
	}
	if first.Size != 10 {
		t.Fatalf("first head has %d leaves", first.Size)
	}

	e, err := st.LicenseEntry(t.Context(), "ws_5", 13)
	if err != nil || e.Index != 12 {
		t.Fatalf("license ws_5/13: %+v, %v", e, err)
	}
	enqueue(t, pool, 23, 24)
	if _, err := st.LicenseEntry(t.Context(), "ws_2", 24); !errors.Is(err, translog.ErrNotSequenced) {
		t.Fatalf("a queued license: %v", err)
	}
	if _, err := st.LicenseEntry(t.Context(), "ws_2", 99); !errors.Is(err, translog.ErrLeafNotFound) {
		t.Fatalf("an unknown license: %v", err)
	}
}

// Replicas racing to sequence, while issuance keeps queueing, give every
// leaf exactly one index and leave no gap.
func TestConcurrentSequencersAreOneWriter(t *testing.T) {
	pool := signertest.NewPool(t)
	k := signertest.NewKeys(t)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	for range 3 {
		wg.Go(func() { _ = translog.NewSequencer(pool, k, 7, time.Millisecond, slog.Default()).Run(ctx) })
	}
	var want []tlog.Leaf
	for i := 0; i < 200; i += 10 {
		want = append(want, enqueue(t, pool, i, i+10)...)
	}
	st := translog.NewStore(pool)
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := st.TreeHead(t.Context(), 0, true)
		if err == nil && h.Size == uint64(len(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sequencers did not catch up: %+v, %v", h, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	checkLog(t, st, k, want)
}

// The database refuses to rewrite the log; and when someone with the power
// to bypass that does, verification against the signed head fails.
func TestTamperingIsEvident(t *testing.T) {
	pool := signertest.NewPool(t)
	k := signertest.NewKeys(t)
	st := translog.NewStore(pool)
	want := enqueue(t, pool, 0, 9)
	drain(t, translog.NewSequencer(pool, k, 100, time.Hour, slog.Default()))
	sth := checkLog(t, st, k, want)
	ctx := t.Context()

	if _, err := pool.Exec(ctx, `UPDATE log_nodes SET hash = sha256(hash) WHERE level = 0 AND idx = 3`); err == nil {
		t.Fatal("a log node was rewritten")
	}
	// As a superuser who turns the triggers off.
	tamper := func(sql string) {
		t.Helper()
		err := pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// A stored subtree hash: proofs that use it no longer lead to the
	// signed root.
	tamper(`UPDATE log_nodes SET hash = sha256(hash) WHERE level = 0 AND idx = 3`)
	h2, _ := want[2].Hash()
	proof, err := tlog.InclusionProof(ctx, 2, sth.Size, st.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyInclusion(2, sth.Size, h2, proof, sth.RootHash); !errors.Is(err, tlog.ErrProof) {
		t.Fatalf("leaf 2 beside a rewritten node: %v", err)
	}

	// A leaf's artifact: the entries no longer rebuild the signed root.
	tamper(`UPDATE log_leaves SET artifact_sha256 = sha256(artifact_sha256) WHERE leaf_index = 6`)
	entries, err := st.Entries(ctx, 0, sth.Size)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, e := range entries {
		h, _ := e.Leaf.Hash()
		hashes = append(hashes, h)
	}
	if bytes.Equal(tlog.RootFromLeaves(hashes), sth.RootHash) {
		t.Fatal("the rewritten entries still rebuild the signed root")
	}
}

func TestKeysetIsLoggedOncePerChange(t *testing.T) {
	pool := signertest.NewPool(t)
	k := signertest.NewKeys(t)
	for i, want := range []bool{true, false, false} {
		logged, err := translog.LogKeyset(t.Context(), pool, k)
		if err != nil || logged != want {
			t.Fatalf("start %d: logged %v, %v; want %v", i, logged, err, want)
		}
		if i == 1 {
			drain(t, translog.NewSequencer(pool, k, 10, time.Hour, slog.Default()))
		}
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM log_leaves WHERE kind = 'keyset' AND sequence = 1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("keyset leaves: %d, %v", n, err)
	}
}
