package signertest

import (
	"context"
	"sync"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// Registry is an in-memory issuance.Registry that counts the calls it gets,
// so tests can tell when the signer asked it.
type Registry struct {
	mu         sync.Mutex
	workspaces map[string]domain.Workspace
	calls      int
}

// NewRegistry returns a registry knowing ws.
func NewRegistry(ws ...domain.Workspace) *Registry {
	r := &Registry{workspaces: map[string]domain.Workspace{}}
	for _, w := range ws {
		r.Add(w)
	}
	return r
}

// Add makes w known.
func (r *Registry) Add(w domain.Workspace) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.workspaces[w.ID] = w
}

// Workspace implements issuance.Registry.
func (r *Registry) Workspace(_ context.Context, id string) (domain.Workspace, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	w, ok := r.workspaces[id]
	if !ok {
		return domain.Workspace{}, domain.ErrWorkspaceNotFound
	}
	return w, nil
}

// Calls returns how many times Workspace was called.
func (r *Registry) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}
