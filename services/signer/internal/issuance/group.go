package issuance

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// maxGroup bounds the subscription changes committed together: enough to
// spread a commit over many licenses, few enough that a change does not wait
// long behind the signatures of the others.
const maxGroup = 16

// groupCommitter commits concurrent subscription changes of different
// workspaces in one transaction (group commit): while one group is in
// flight, the changes that arrive queue, and the next group takes them all.
// A change alone goes through at once, as a group of one. Each change
// still reads and decides on its own; what the group saves is a
// transaction, its commit and its locks' round trip per change.
//
// There are no background goroutines: a caller that finds fewer groups in
// flight than the machine has cores leads one, committing groups until the
// queue is empty (as many leaders as cores keep every core signing).
type groupCommitter struct {
	store   *store.Store
	leaders int

	mu      sync.Mutex
	pending []*groupChange
	leading int
}

// groupChange is one change waiting for its group.
type groupChange struct {
	ctx            context.Context
	key, workspace string
	run            func(*store.Tx) error
	err            error
	done           chan struct{}
}

func newGroupCommitter(st *store.Store) *groupCommitter {
	return &groupCommitter{store: st, leaders: runtime.GOMAXPROCS(0)}
}

// do runs run in a transaction shared with other changes and returns its
// error once that transaction has ended. run must write nothing unless it
// succeeds (the subscription changes write last, in one batch): a change
// that fails without breaking the transaction fails alone, and the others
// commit.
func (g *groupCommitter) do(ctx context.Context, key, workspace string, run func(*store.Tx) error) error {
	c := &groupChange{ctx: ctx, key: key, workspace: workspace, run: run, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := g.leading < g.leaders
	if lead {
		g.leading++
	}
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	<-c.done
	return c.err
}

// lead commits groups until nothing is pending.
func (g *groupCommitter) lead() {
	for {
		g.mu.Lock()
		group := g.take()
		if len(group) == 0 {
			g.leading--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(group)
		for _, c := range group {
			close(c.done)
		}
	}
}

// take removes the next group from the queue: in arrival order, at most
// one change per workspace (a second waits for the next group, so it reads
// what the first wrote). The caller holds mu.
func (g *groupCommitter) take() []*groupChange {
	var group, rest []*groupChange
	seen := map[string]bool{}
	for _, c := range g.pending {
		if len(group) == maxGroup || seen[c.workspace] {
			rest = append(rest, c)
			continue
		}
		seen[c.workspace] = true
		group = append(group, c)
	}
	g.pending = rest
	return group
}

// errGroupBroken: a change broke the shared transaction (a statement
// failed), so none of the group's writes can commit.
var errGroupBroken = errors.New("a change broke the group's transaction")

// commit runs the group in one transaction. When it cannot commit, each
// change runs again in a transaction of its own, so a change that breaks
// the group costs the others a retry, not their result.
func (g *groupCommitter) commit(group []*groupChange) {
	if len(group) == 1 {
		c := group[0]
		c.err = g.store.InTx(c.ctx, c.run)
		return
	}
	keys := make([]string, 0, len(group))
	workspaces := make([]string, 0, len(group))
	for _, c := range group {
		keys = append(keys, c.key)
		workspaces = append(workspaces, c.workspace)
	}
	// The group's own statements outlive any one caller's deadline; each
	// change's statements run under its caller's context.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), time.Minute)
	defer cancel()
	err := g.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockChanges(ctx, keys, workspaces); err != nil {
			return err
		}
		for _, c := range group {
			c.err = c.run(tx)
			if c.err != nil && tx.Broken() {
				return errGroupBroken
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	for _, c := range group {
		c.err = g.store.InTx(c.ctx, c.run)
	}
}
