package issuance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Idempotency identifies one mutating call: the same Key with the same
// Method and request Hash is the same call.
type Idempotency struct {
	Key    string
	Method string
	// Hash is a digest of the whole request but its key.
	Hash []byte
}

// MaxIdempotencyKeyLength bounds a key.
const MaxIdempotencyKeyLength = 200

// Check rejects a missing or absurd key.
func (i Idempotency) Check() error {
	switch k := i.Key; {
	case strings.TrimSpace(k) == "":
		return validate.Field("idempotency_key", "required (any string unique to this change, such as a UUID)")
	case len(k) > MaxIdempotencyKeyLength:
		return validate.Field("idempotency_key", "longer than %d characters", MaxIdempotencyKeyLength)
	}
	return nil
}

// once runs fn under the idempotency key in tx: a call seen before gets the
// answer it got then, and fn does not run; the same key with another request
// is domain.ErrIdempotencyKeyReused. A call that fails records nothing, so
// its retry runs again.
func once[T any](ctx context.Context, tx *store.Tx, idem Idempotency, fn func() (T, error)) (T, error) {
	var zero T
	if err := tx.LockKey(ctx, idem.Key); err != nil {
		return zero, err
	}
	method, hash, response, found, err := tx.Remembered(ctx, idem.Key)
	if err != nil {
		return zero, err
	}
	if found {
		if method != idem.Method || !bytes.Equal(hash, idem.Hash) {
			return zero, fmt.Errorf("%w: key %q was used for another request (%s)", domain.ErrIdempotencyKeyReused, idem.Key, method)
		}
		var out T
		if err := json.Unmarshal(response, &out); err != nil {
			return zero, fmt.Errorf("idempotency record %q: %w", idem.Key, err)
		}
		return out, nil
	}
	out, err := fn()
	if err != nil {
		return zero, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return zero, err
	}
	return out, tx.Remember(ctx, idem.Key, idem.Method, idem.Hash, b)
}

// Outcome is what a lifecycle call did.
type Outcome struct {
	Subscription domain.Subscription
	CustomerID   string
	// License is the license issued, if one was.
	License *domain.License `json:",omitempty"`
	// Withdrawn is the sequence a withdrawal took, if the call withdrew.
	Withdrawn int64 `json:",omitempty"`
}

// remembered is an Outcome as its idempotency record keeps it: the license
// by id (it is in the licenses table for good), not its whole token again.
type remembered struct {
	Subscription domain.Subscription
	CustomerID   string
	LicenseID    string `json:",omitempty"`
	Withdrawn    int64  `json:",omitempty"`
}

// Change applies a lifecycle change to a workspace's subscription and
// issues (or withdraws) its license in the same transaction. Plans the change
// names by Plan.ID are loaded at their current version. customerID, when
// set, must be the workspace's customer (otherwise the workspace is "not
// found", as if it did not exist).
func (s *Service) Change(ctx context.Context, workspaceID, customerID string, idem Idempotency, c domain.Change) (Outcome, error) {
	return s.mutate(ctx, workspaceID, customerID, idem, namedPlans(c), func(ctx context.Context, tx *store.Tx, m *moment) (Outcome, store.Changes, error) {
		return s.apply(ctx, tx, m, c)
	})
}

// namedPlans lists the plans a change names, so the snapshot reads their
// current versions.
func namedPlans(c domain.Change) []string {
	switch c := c.(type) {
	case domain.Grant:
		return []string{c.Plan.ID}
	case domain.StartTrial:
		return []string{c.Plan.ID}
	}
	return nil
}

// OfflineLicense issues an offline license (information.offline, no
// statistics report required) for the workspace's current subscription,
// bound to reported ("" keeps the binding).
func (s *Service) OfflineLicense(ctx context.Context, workspaceID, customerID, reported string, idem Idempotency) (Outcome, error) {
	addr, err := domain.ParseAddress(reported)
	if err != nil {
		return Outcome{}, err
	}
	return s.mutate(ctx, workspaceID, customerID, idem, nil, func(ctx context.Context, tx *store.Tx, m *moment) (Outcome, store.Changes, error) {
		sub := m.sub
		if sub.State() == domain.StateSuspended {
			return Outcome{}, store.Changes{}, domain.ErrSubscriptionSuspended
		}
		if addr != "" {
			sub.Address = addr
		}
		l, err := s.license(ctx, tx, m, sub, true)
		if err != nil {
			return Outcome{}, store.Changes{}, err
		}
		return Outcome{Subscription: sub, CustomerID: m.ws.CustomerID, License: &l}, store.Changes{Subscription: &sub, License: &l}, nil
	})
}

// moment is what a change sees: the snapshot, the workspace and its
// subscription (started on its initial plan when it had none), the time.
type moment struct {
	snap store.Snapshot
	ws   domain.Workspace
	sub  domain.Subscription
	now  time.Time
}

type mutation func(ctx context.Context, tx *store.Tx, m *moment) (Outcome, store.Changes, error)

// mutate runs fn on the workspace's subscription under the idempotency key
// and the workspace's lock, in one transaction (shared with concurrent
// changes of other workspaces: see groupCommitter) where the change takes
// two round trips: the snapshot and the writes. The license is signed
// between the two.
func (s *Service) mutate(ctx context.Context, workspaceID, customerID string, idem Idempotency, plans []string, fn mutation) (out Outcome, err error) {
	if err := domain.CheckWorkspaceID(workspaceID); err != nil {
		return out, err
	}
	if err := idem.Check(); err != nil {
		return out, err
	}
	out, err = s.transact(ctx, workspaceID, customerID, idem, plans, fn)
	if !errors.Is(err, errUnknownWorkspace) {
		return out, err
	}
	// The signer has not heard of the workspace yet (its workspace.registered
	// may still be on its way): ask the registry, outside any transaction,
	// and try once more.
	if err := s.learn(ctx, workspaceID); err != nil {
		return out, err
	}
	out, err = s.transact(ctx, workspaceID, customerID, idem, plans, fn)
	if errors.Is(err, errUnknownWorkspace) {
		err = domain.ErrWorkspaceNotFound
	}
	return out, err
}

// errUnknownWorkspace: the signer's store does not know the workspace.
var errUnknownWorkspace = errors.New("workspace unknown to the signer")

// transact is one attempt of mutate.
func (s *Service) transact(ctx context.Context, workspaceID, customerID string, idem Idempotency, plans []string, fn mutation) (out Outcome, err error) {
	// Concurrent changes of other workspaces share the transaction; this
	// one writes nothing until its last statement batch.
	err = s.group.do(ctx, idem.Key, workspaceID, func(tx *store.Tx) error {
		snap, err := tx.Snapshot(ctx, idem.Key, workspaceID, plans)
		if err != nil {
			return err
		}
		if snap.Remembered != nil {
			out, err = s.replay(ctx, tx, idem, snap.Remembered)
			return err
		}
		if !snap.WorkspaceFound {
			return errUnknownWorkspace
		}
		m, err := s.moment(ctx, tx, snap, customerID)
		if err != nil {
			return err
		}
		var changes store.Changes
		if out, changes, err = fn(ctx, tx, m); err != nil {
			return err
		}
		rec := remembered{Subscription: out.Subscription, CustomerID: out.CustomerID, Withdrawn: out.Withdrawn}
		if out.License != nil {
			rec.LicenseID = out.License.ID
		}
		response, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		changes.KeyName = idem.Key
		changes.Key = &store.Remembered{Method: idem.Method, Hash: idem.Hash, Response: response}
		return tx.Write(ctx, changes)
	})
	return out, err
}

// replay answers a call seen before as it was answered then, or refuses the
// key when the request differs.
func (s *Service) replay(ctx context.Context, tx *store.Tx, idem Idempotency, r *store.Remembered) (Outcome, error) {
	if r.Method != idem.Method || !bytes.Equal(r.Hash, idem.Hash) {
		return Outcome{}, fmt.Errorf("%w: key %q was used for another request (%s)", domain.ErrIdempotencyKeyReused, idem.Key, r.Method)
	}
	var rec remembered
	if err := json.Unmarshal(r.Response, &rec); err != nil {
		return Outcome{}, fmt.Errorf("idempotency record %q: %w", idem.Key, err)
	}
	out := Outcome{Subscription: rec.Subscription, CustomerID: rec.CustomerID, Withdrawn: rec.Withdrawn}
	if rec.LicenseID != "" {
		l, err := tx.License(ctx, rec.LicenseID)
		if err != nil {
			return Outcome{}, err
		}
		out.License = &l
	}
	return out, nil
}

// moment checks the snapshot's workspace against customerID and starts its
// subscription when it has none.
func (s *Service) moment(ctx context.Context, tx *store.Tx, snap store.Snapshot, customerID string) (*moment, error) {
	if !snap.WorkspaceFound {
		return nil, domain.ErrWorkspaceNotFound
	}
	ws := snap.Workspace
	if customerID != "" && customerID != ws.CustomerID {
		// The same answer as for a workspace that does not exist: the
		// caller learns nothing about other customers' workspaces.
		return nil, domain.ErrWorkspaceNotFound
	}
	m := &moment{snap: snap, ws: ws, sub: snap.Subscription, now: s.Now()}
	if !snap.SubscriptionFound {
		id := ws.InitialPlanID
		if id == "" {
			id = snap.DefaultPlanID
		}
		plan, err := s.current(ctx, tx, snap, id)
		if err != nil {
			return nil, err
		}
		m.sub = domain.NewSubscription(ws, plan, m.now)
	}
	return m, nil
}

// current returns the current version of a plan the snapshot read.
func (s *Service) current(ctx context.Context, tx *store.Tx, snap store.Snapshot, id string) (domain.Plan, error) {
	ref, ok := snap.Plans[id]
	if !ok {
		if id == "" {
			return domain.Plan{}, fmt.Errorf("%w: no default plan", domain.ErrPlanNotFound)
		}
		return domain.Plan{}, fmt.Errorf("%w: %q", domain.ErrPlanNotFound, id)
	}
	return s.planVersion(ctx, tx, id, ref.Version)
}

// license signs the workspace's next license for sub (not yet stored).
func (s *Service) license(ctx context.Context, tx *store.Tx, m *moment, sub domain.Subscription, offline bool) (domain.License, error) {
	plan, err := s.planVersion(ctx, tx, sub.PlanID, sub.PlanVersion)
	if err != nil {
		return domain.License{}, err
	}
	in := domain.Issue{LicenseID: s.newID(), Sequence: m.snap.LastSequence + 1, Workspace: m.ws, Subscription: sub, Plan: plan,
		Address: sub.Address, Now: m.now, Offline: offline}
	if sub.Trial() {
		free, err := s.current(ctx, tx, m.snap, m.snap.DefaultPlanID)
		if err != nil {
			return domain.License{}, err
		}
		sup := free.Definition.Support()
		in.TrialSupport = &sup
	}
	return s.sign(ctx, in)
}

// apply resolves c (the plans it names at their current version, whether a
// trial was taken, the free plan), runs it on the subscription, and returns
// what to write: the subscription, and the license issued or withdrawn.
func (s *Service) apply(ctx context.Context, tx *store.Tx, m *moment, c domain.Change) (Outcome, store.Changes, error) {
	c, err := s.resolve(ctx, tx, m, c)
	if err != nil {
		return Outcome{}, store.Changes{}, err
	}
	next, effect, err := m.sub.Apply(c, m.now)
	if err != nil {
		return Outcome{}, store.Changes{}, err
	}
	out := Outcome{Subscription: next, CustomerID: m.ws.CustomerID}
	changes := store.Changes{Subscription: &out.Subscription}
	switch effect {
	case domain.EffectIssue:
		l, err := s.license(ctx, tx, m, next, false)
		if err != nil {
			return Outcome{}, store.Changes{}, err
		}
		out.License, changes.License = &l, &l
	case domain.EffectWithdraw:
		w := domain.Withdrawal{WorkspaceID: m.ws.ID, Sequence: m.snap.LastSequence + 1, Reason: next.SuspendReason, At: m.now}
		out.Withdrawn, changes.Withdrawal = w.Sequence, &w
	}
	if t, ok := c.(domain.StartTrial); ok {
		changes.Trial = &store.Trial{PlanID: t.Plan.ID, Start: next.PeriodStart, End: *next.PeriodEnd, Override: t.UsedBefore && t.Override}
	}
	return out, changes, nil
}

// resolve fills in what a change needs: the plans it names (at their
// current version), whether a trial was taken, the free plan.
func (s *Service) resolve(ctx context.Context, tx *store.Tx, m *moment, c domain.Change) (domain.Change, error) {
	var err error
	switch c := c.(type) {
	case domain.Grant:
		c.Plan, err = s.current(ctx, tx, m.snap, c.Plan.ID)
		return c, err
	case domain.StartTrial:
		if c.Plan, err = s.current(ctx, tx, m.snap, c.Plan.ID); err != nil {
			return nil, err
		}
		if m.sub.State() == domain.StateFree {
			// Only asked when the trial could start: one more round trip.
			c.UsedBefore, err = tx.TrialUsed(ctx, m.ws.ID, c.Plan.ID)
		}
		return c, err
	case domain.ConvertTrial:
		c.Plan, err = s.current(ctx, tx, m.snap, m.sub.PlanID)
		return c, err
	case domain.Renew:
		c.Plan, err = s.current(ctx, tx, m.snap, m.sub.PlanID)
		return c, err
	case domain.Cancel:
		c.Free, err = s.current(ctx, tx, m.snap, m.snap.DefaultPlanID)
		return c, err
	case domain.Lapse:
		c.Free, err = s.current(ctx, tx, m.snap, m.snap.DefaultPlanID)
		return c, err
	}
	return c, nil
}

// Entitlement is what a workspace is entitled to now.
type Entitlement struct {
	Workspace    domain.Workspace
	Subscription domain.Subscription
	Plan         domain.Plan
	Support      domain.Support
	// Document is the license document the subscription makes (unsigned):
	// modules, limits, valid periods, warning dates.
	Document *license.Document
	// LicenseSequence and LicenseID name the newest license (or withdrawal).
	LicenseSequence int64
	LicenseID       string
}

// Entitlement reads a workspace's entitlement. customerID, when set, must
// be the workspace's customer.
func (s *Service) Entitlement(ctx context.Context, workspaceID, customerID string) (Entitlement, error) {
	if err := domain.CheckWorkspaceID(workspaceID); err != nil {
		return Entitlement{}, err
	}
	ws, err := s.store.Workspace(ctx, workspaceID)
	if err != nil {
		return Entitlement{}, err
	}
	if customerID != "" && customerID != ws.CustomerID {
		return Entitlement{}, domain.ErrWorkspaceNotFound
	}
	sub, found, err := s.store.Subscription(ctx, workspaceID)
	if err != nil {
		return Entitlement{}, err
	}
	if !found {
		return Entitlement{}, domain.ErrWorkspaceNotFound
	}
	plan, err := s.planVersion(ctx, nil, sub.PlanID, sub.PlanVersion)
	if err != nil {
		return Entitlement{}, err
	}
	latest, found, err := s.store.LatestLicense(ctx, workspaceID)
	if err != nil {
		return Entitlement{}, err
	}
	seq, err := s.store.LastSequence(ctx, workspaceID)
	if err != nil {
		return Entitlement{}, err
	}
	in := domain.Issue{LicenseID: latest.ID, Sequence: seq, Workspace: ws, Subscription: sub, Plan: plan, Address: sub.Address, Now: s.Now()}
	if found {
		in.Now = latest.IssuedAt // a free plan's rolling validity is the license's
	}
	if sub.Trial() {
		free, err := s.store.DefaultPlan(ctx)
		if err != nil {
			return Entitlement{}, err
		}
		sup := free.Definition.Support()
		in.TrialSupport = &sup
	}
	doc, err := in.Document()
	if err != nil {
		return Entitlement{}, err
	}
	return Entitlement{
		Workspace: ws, Subscription: sub, Plan: plan, Support: in.Support(), Document: doc,
		LicenseSequence: seq, LicenseID: latest.ID,
	}, nil
}
