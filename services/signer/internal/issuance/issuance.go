// Package issuance decides when a workspace needs a new license and issues
// it: it coordinates the plan and subscription (store), the document (domain)
// and the signing key, in one transaction per workspace.
package issuance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Registry describes workspaces the signer has not heard of yet (their
// workspace.registered event may still be on its way). It returns
// domain.ErrWorkspaceNotFound for a workspace it does not know either.
type Registry interface {
	Workspace(ctx context.Context, id string) (domain.Workspace, error)
}

// Service issues licenses and moves subscriptions through their life.
type Service struct {
	store    *store.Store
	keys     keys.Manager
	registry Registry
	now      func() time.Time
	newID    func() string
	plans    planCache
	group    *groupCommitter
	versions VersionsDocument
}

// VersionsDocument is the signed supported-versions document each license
// embeds (see package versiondoc).
type VersionsDocument interface {
	Document(ctx context.Context, tx *store.Tx) (json.RawMessage, error)
}

// WithSupportedVersions makes every license embed d's document as
// supportedVersions; without it licenses carry none.
func WithSupportedVersions(d VersionsDocument) Option { return func(s *Service) { s.versions = d } }

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read the time from now (tests, golden
// vectors); the default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLicenseIDs makes the service take license ids from next (golden
// vectors); the default is domain.NewLicenseID.
func WithLicenseIDs(next func() string) Option { return func(s *Service) { s.newID = next } }

// New returns the service.
func New(st *store.Store, km keys.Manager, registry Registry, opts ...Option) *Service {
	s := &Service{store: st, keys: km, registry: registry, now: time.Now, newID: domain.NewLicenseID, group: newGroupCommitter(st)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Now is the service's clock, in UTC at the milliseconds a document
// carries, so a document and its row hold the same instant.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Ensure returns the workspace's current license, issuing one first when it
// has none, when reported (a site address; "" keeps the binding) differs from
// the current binding, or when the current one must be renewed (see
// domain.License.Serves). issued says whether this call issued it.
func (s *Service) Ensure(ctx context.Context, workspaceID, reported string) (l domain.License, issued bool, err error) {
	if err := domain.CheckWorkspaceID(workspaceID); err != nil {
		return l, false, err
	}
	addr, err := domain.ParseAddress(reported)
	if err != nil {
		return l, false, err
	}
	if err := s.learn(ctx, workspaceID); err != nil {
		return l, false, err
	}
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		l, issued, err = s.ensure(ctx, tx, workspaceID, addr)
		return err
	})
	return l, issued, err
}

// learn makes sure the signer knows the workspace, asking the registry when
// it does not. This happens before the transaction, so no database
// transaction waits on a remote call.
func (s *Service) learn(ctx context.Context, workspaceID string) error {
	_, err := s.store.Workspace(ctx, workspaceID)
	if !errors.Is(err, domain.ErrWorkspaceNotFound) {
		return err
	}
	w, err := s.registry.Workspace(ctx, workspaceID)
	if err != nil {
		return err
	}
	w.ID = workspaceID
	return s.store.SaveWorkspace(ctx, w)
}

// Registered applies workspace.registered inside the consumer's transaction:
// it stores the workspace and issues its first license (bound to no address).
// A redelivery finds that license serving and issues nothing.
func (s *Service) Registered(ctx context.Context, tx *store.Tx, w domain.Workspace) error {
	if err := domain.CheckWorkspaceID(w.ID); err != nil {
		return err
	}
	if err := tx.SaveWorkspace(ctx, w); err != nil {
		return err
	}
	_, _, err := s.ensure(ctx, tx, w.ID, "")
	return err
}

// ensure is the one issuance path of both the RPC and the consumer. addr is
// already stripped and checked.
func (s *Service) ensure(ctx context.Context, tx *store.Tx, workspaceID, addr string) (domain.License, bool, error) {
	if err := tx.LockWorkspace(ctx, workspaceID); err != nil {
		return domain.License{}, false, err
	}
	now := s.Now()
	ws, err := tx.Workspace(ctx, workspaceID)
	if err != nil {
		return domain.License{}, false, err
	}
	sub, plan, err := s.subscription(ctx, tx, ws, now)
	if err != nil {
		return domain.License{}, false, err
	}
	latest, found, err := tx.LatestLicense(ctx, workspaceID)
	if err != nil {
		return domain.License{}, false, err
	}
	if found && (latest.Serves(addr, sub, plan, now) || sub.State() == domain.StateSuspended) {
		// A suspended workspace keeps its withdrawn license (the view says
		// removeLicense) until it is reinstated.
		return latest, false, nil
	}
	if sub.State() == domain.StateSuspended {
		return domain.License{}, false, domain.ErrSubscriptionSuspended
	}
	l, err := s.issue(ctx, tx, ws, sub, plan, addr, now, false)
	if err != nil {
		return domain.License{}, false, err
	}
	return l, true, nil
}

// issue signs and appends the next license of ws for sub on plan, bound to
// addr ("" keeps the subscription's binding), with its license.issued event.
// The caller holds the workspace's lock.
func (s *Service) issue(ctx context.Context, tx *store.Tx, ws domain.Workspace, sub domain.Subscription, plan domain.Plan, addr string, now time.Time, offline bool) (domain.License, error) {
	if addr == "" {
		addr = sub.Address // a renewal keeps the binding
	}
	last, err := tx.LastSequence(ctx, ws.ID)
	if err != nil {
		return domain.License{}, err
	}
	in := domain.Issue{LicenseID: s.newID(), Sequence: last + 1, Workspace: ws, Subscription: sub, Plan: plan, Address: addr, Now: now, Offline: offline}
	if sub.Trial() {
		if in.TrialSupport, err = s.trialSupport(ctx, tx); err != nil {
			return domain.License{}, err
		}
	}
	if s.versions != nil {
		if in.SupportedVersions, err = s.versions.Document(ctx, tx); err != nil {
			return domain.License{}, err
		}
	}
	l, err := s.sign(ctx, in)
	if err != nil {
		return domain.License{}, err
	}
	if err := tx.AppendLicense(ctx, l); err != nil {
		return domain.License{}, err
	}
	return l, nil
}

// trialSupport is the support trial users get: the default free plan's.
func (s *Service) trialSupport(ctx context.Context, tx *store.Tx) (*domain.Support, error) {
	free, err := tx.DefaultPlan(ctx)
	if err != nil {
		return nil, err
	}
	sup := free.Definition.Support()
	return &sup, nil
}

// subscription returns the workspace's subscription and its plan, starting
// it on the workspace's initial plan (or the default plan) when missing.
func (s *Service) subscription(ctx context.Context, tx *store.Tx, ws domain.Workspace, now time.Time) (domain.Subscription, domain.Plan, error) {
	sub, found, err := tx.Subscription(ctx, ws.ID)
	if err != nil {
		return sub, domain.Plan{}, err
	}
	if found {
		plan, err := s.planVersion(ctx, tx, sub.PlanID, sub.PlanVersion)
		return sub, plan, err
	}
	var plan domain.Plan
	if ws.InitialPlanID != "" {
		plan, err = tx.Plan(ctx, ws.InitialPlanID)
	} else {
		plan, err = tx.DefaultPlan(ctx)
	}
	if err != nil {
		return sub, plan, err
	}
	sub = domain.NewSubscription(ws, plan, now)
	return sub, plan, tx.CreateSubscription(ctx, sub)
}

// sign builds the document of in and signs it with the active license key.
func (s *Service) sign(ctx context.Context, in domain.Issue) (domain.License, error) {
	doc, err := in.Document()
	if err != nil {
		return domain.License{}, fmt.Errorf("license %s of workspace %s: %w", in.LicenseID, in.Workspace.ID, err)
	}
	until, err := in.ValidUntil()
	if err != nil {
		return domain.License{}, err
	}
	key, err := s.keys.Active(ctx)
	if err != nil {
		return domain.License{}, fmt.Errorf("license signing key: %w", err)
	}
	token, err := license.Sign(doc, key)
	if err != nil {
		return domain.License{}, fmt.Errorf("sign license %s of workspace %s: %w", in.LicenseID, in.Workspace.ID, err)
	}
	return domain.License{
		ID: in.LicenseID, WorkspaceID: in.Workspace.ID, Sequence: in.Sequence, PlanID: in.Plan.ID, PlanVersion: in.Plan.Version,
		Address: in.Address, Token: token, KeyID: key.ID, IssuedAt: in.Now, ExpiresAt: &until, Modules: in.Plan.Modules,
		Trial: in.Subscription.Trial(), Offline: in.Offline,
	}, nil
}

// planCache keeps plan versions, which never change once published.
type planCache struct {
	mu       sync.RWMutex
	versions map[planKey]domain.Plan
}

type planKey struct {
	id      string
	version int
}

// planVersion returns a plan version, from the cache when it can.
func (s *Service) planVersion(ctx context.Context, tx *store.Tx, id string, version int) (domain.Plan, error) {
	k := planKey{id, version}
	s.plans.mu.RLock()
	p, ok := s.plans.versions[k]
	s.plans.mu.RUnlock()
	if ok {
		return p, nil
	}
	var err error
	if tx != nil {
		p, err = tx.PlanVersion(ctx, id, version)
	} else {
		p, err = s.store.PlanVersion(ctx, id, version)
	}
	if err != nil {
		return p, err
	}
	s.plans.mu.Lock()
	if s.plans.versions == nil {
		s.plans.versions = map[planKey]domain.Plan{}
	}
	s.plans.versions[k] = p
	s.plans.mu.Unlock()
	return p, nil
}

// Resign re-issues the workspace's current license, inside tx, when a key
// other than the active one signed it: the same subscription and binding,
// the next sequence, the active key. A license that is withdrawn, offline
// (it reaches its site by hand, not by sync) or past its validity is left as
// it is.
func (s *Service) Resign(ctx context.Context, tx *store.Tx, workspaceID string) (bool, error) {
	active, err := s.keys.Active(ctx)
	if err != nil {
		return false, fmt.Errorf("license signing key: %w", err)
	}
	if err := tx.LockWorkspace(ctx, workspaceID); err != nil {
		return false, err
	}
	latest, found, err := tx.LatestLicense(ctx, workspaceID)
	if err != nil || !found || latest.KeyID == active.ID || latest.Offline {
		return false, err
	}
	now := s.Now()
	if latest.ExpiresAt != nil && !latest.ExpiresAt.After(now) {
		return false, nil
	}
	ws, err := tx.Workspace(ctx, workspaceID)
	if err != nil {
		return false, err
	}
	sub, plan, err := s.subscription(ctx, tx, ws, now)
	if err != nil || sub.State() == domain.StateSuspended {
		return false, err
	}
	if _, err := s.issue(ctx, tx, ws, sub, plan, latest.Address, now, false); err != nil {
		return false, err
	}
	return true, nil
}
