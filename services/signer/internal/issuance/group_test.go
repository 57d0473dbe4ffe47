package issuance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Concurrent changes of many workspaces (several of the same workspace, and
// some refused) are committed in groups: each good change issues its
// license, each workspace's sequence has no gap and no duplicate, a refused
// change changes nothing, and the licenses took fewer transactions than
// there were changes.
func TestConcurrentChangesCommitTogether(t *testing.T) {
	t.Parallel()
	const workspaces, rounds = 12, 3
	var ws []domain.Workspace
	for i := range workspaces {
		ws = append(ws, workspace(fmt.Sprintf("ws-group-%02d", i), ""))
	}
	e := newEnv(t, ws...)
	ctx := t.Context()
	for _, w := range ws {
		if _, _, err := e.svc.Ensure(ctx, w.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		ws      string
		refused bool
		err     error
	}
	results := make(chan result, workspaces*(rounds+1))
	var wg sync.WaitGroup
	for _, w := range ws {
		for r := range rounds {
			wg.Go(func() {
				_, err := e.svc.Change(ctx, w.ID, w.CustomerID, key("grant"), domain.Grant{Plan: pro(), Seats: new(10 + r)})
				results <- result{ws: w.ID, err: err}
			})
		}
		wg.Go(func() {
			_, err := e.svc.Change(ctx, w.ID, w.CustomerID, key("grant"), domain.Grant{Plan: domain.Plan{ID: "no-such-plan"}})
			results <- result{ws: w.ID, refused: true, err: err}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		switch {
		case r.refused && !errors.Is(r.err, domain.ErrPlanNotFound):
			t.Errorf("%s: a grant of an unknown plan: %v, want %v", r.ws, r.err, domain.ErrPlanNotFound)
		case !r.refused && r.err != nil:
			t.Errorf("%s: %v", r.ws, r.err)
		}
	}
	for _, w := range ws {
		if got, want := e.sequences(t, w.ID), []int64{1, 2, 3, 4}; !slices.Equal(got, want) {
			t.Errorf("%s: license sequences %v, want %v", w.ID, got, want)
		}
	}
	var licenses, transactions int
	if err := e.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM licenses WHERE sequence > 1`).Scan(&licenses, &transactions); err != nil {
		t.Fatal(err)
	}
	if licenses != workspaces*rounds || transactions >= licenses {
		t.Errorf("%d licenses from changes in %d transactions: want %d in fewer", licenses, transactions, workspaces*rounds)
	}
}

// A change that fails without a failed statement fails alone, and the
// group's others commit in one transaction; a change whose statement fails
// sends every change of its group to a transaction of its own, where the
// others succeed.
func TestGroupFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	remember := func(key string) func(*store.Tx) error {
		return func(tx *store.Tx) error { return tx.Remember(ctx, key, "m", []byte("h"), []byte("{}")) }
	}
	refused := errors.New("refused by the rules")
	if err := e.store.InTx(ctx, remember("taken")); err != nil {
		t.Fatal(err)
	}
	run := func(runs ...func(*store.Tx) error) []error {
		var group []*groupChange
		for i, r := range runs {
			group = append(group, &groupChange{ctx: ctx, key: fmt.Sprint("k", i), workspace: fmt.Sprint("w", i), run: r})
		}
		e.svc.group.commit(group)
		var errs []error
		for _, c := range group {
			errs = append(errs, c.err)
		}
		return errs
	}
	txOf := func(keys ...string) (rows, txs int) {
		if err := e.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM idempotency_keys WHERE key = ANY($1)`, keys).Scan(&rows, &txs); err != nil {
			t.Fatal(err)
		}
		return rows, txs
	}

	errs := run(remember("a1"), func(*store.Tx) error { return refused }, remember("c1"))
	if errs[0] != nil || !errors.Is(errs[1], refused) || errs[2] != nil {
		t.Fatalf("refused change in a group: errors %v", errs)
	}
	if rows, txs := txOf("a1", "c1"); rows != 2 || txs != 1 {
		t.Errorf("the others: %d rows in %d transactions, want 2 in 1", rows, txs)
	}

	errs = run(remember("a2"), remember("taken"), remember("c2"))
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("breaking change in a group: errors %v", errs)
	}
	if rows, txs := txOf("a2", "c2"); rows != 2 || txs != 2 {
		t.Errorf("the others after a broken group: %d rows in %d transactions, want 2 in 2", rows, txs)
	}
	if rows, _ := txOf("taken"); rows != 1 {
		t.Errorf("the taken key has %d rows", rows)
	}
}
