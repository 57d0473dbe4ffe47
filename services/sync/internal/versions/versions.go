// Package versions keeps the sync service's in-memory copy of the version
// policy and refuses, on the sync path, a workspace whose version is no
// longer supported. The copy is loaded from the signer at start, reloaded
// when licensing.supportedversions.changed.v1 arrives (every replica hears
// it on a plain subscription) and, in case a message was missed while NATS
// was away, every RefreshEvery.
package versions

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// RefreshEvery is the reload period that covers a missed change event.
const RefreshEvery = time.Minute

// callTimeout bounds one call to the signer: a sync is better served than
// kept waiting on a slow signer.
const callTimeout = 3 * time.Second

// Gate decides from its copy of the policy.
type Gate struct {
	signer signerv1.VersionPolicyServiceClient
	nc     *nats.Conn
	log    *slog.Logger
	now    func() time.Time
	rules  atomic.Pointer[versionpolicy.Rules]
	// reload is signalled by change events; one pending signal is enough.
	reload chan struct{}
}

// New returns a gate with no policy yet (it lets every version through
// until Load or Run has fetched one). now is its clock.
func New(signer signerv1.VersionPolicyServiceClient, nc *nats.Conn, log *slog.Logger, now func() time.Time) *Gate {
	return &Gate{signer: signer, nc: nc, log: log, now: now, reload: make(chan struct{}, 1)}
}

// Load fetches the policy from the signer and makes it the copy.
func (g *Gate) Load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	// WaitForReady: at start the signer may not be up yet; waiting out the
	// timeout for it beats failing at once and retrying later.
	resp, err := g.signer.GetVersionPolicy(ctx, &signerv1.GetVersionPolicyRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	g.Set(FromPB(resp.GetPolicy()))
	return nil
}

// Set replaces the copy (tests, and Load), compiled once for every check.
func (g *Gate) Set(p versionpolicy.Policy) { g.rules.Store(p.Compile()) }

// Run keeps the copy current until ctx ends.
func (g *Gate) Run(ctx context.Context) error {
	sub, err := g.nc.Subscribe(events.SubjectSupportedVersionsChanged, func(*nats.Msg) { g.poke() })
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	g.poke() // the first load, now that no change can slip between it and the subscription
	tick := time.NewTicker(RefreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-g.reload:
		}
		if err := g.Load(ctx); err != nil && ctx.Err() == nil {
			g.log.WarnContext(ctx, "version policy: reload failed, keeping the current copy", "error", err)
			// Try again soon rather than at the next tick.
			time.AfterFunc(5*time.Second, g.poke)
		}
	}
}

func (g *Gate) poke() {
	select {
	case g.reload <- struct{}{}:
	default:
	}
}

// Check implements server.VersionGate. The common case (a supported
// version) is decided from memory. A refusal that an exception of the
// workspace's customer could lift is confirmed with the signer, which knows
// the customer; if the signer cannot answer, the workspace is let through
// (a version check is no reason to stop a workspace syncing).
func (g *Gate) Check(ctx context.Context, workspaceID, version string) error {
	rules := g.rules.Load()
	if rules == nil {
		return nil
	}
	d := rules.Decide(version, versionpolicy.Who{WorkspaceID: workspaceID}, g.now())
	if !d.Refused {
		return nil
	}
	if d.NeedsCustomer {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		resp, err := g.signer.CheckVersion(cctx, &signerv1.CheckVersionRequest{WorkspaceId: workspaceID, Version: version})
		if err != nil {
			g.log.WarnContext(ctx, "version check: the signer cannot resolve the customer's exceptions; letting the sync through", "workspace_id", workspaceID, "error", err)
			return nil
		}
		if !resp.GetRefused() {
			return nil
		}
		return &domain.UnsupportedVersionError{Message: resp.GetMessage()}
	}
	return &domain.UnsupportedVersionError{Message: d.Message()}
}

// FromPB is the decision's view of the signer's policy.
func FromPB(pb *signerv1.VersionPolicy) versionpolicy.Policy {
	p := versionpolicy.Policy{DefaultSupportMonths: int(pb.GetDefaultSupportMonths())}
	if pb.GetEnforceFrom() != nil {
		p.EnforceFrom = pb.GetEnforceFrom().AsTime()
	}
	for _, r := range pb.GetReleases() {
		// The signer sends each release's window as it applies now.
		p.Releases = append(p.Releases, versionpolicy.Release{Version: r.GetVersion(), ReleasedAt: r.GetReleasedAt().AsTime(), SupportMonths: int(r.GetSupportMonths())})
	}
	for _, e := range pb.GetExceptions() {
		p.Exceptions = append(p.Exceptions, versionpolicy.Exception{
			ID: e.GetId(), CustomerID: e.GetCustomerId(), LicenseID: e.GetLicenseId(), WorkspaceID: e.GetWorkspaceId(),
			Line: e.GetLine(), Until: e.GetUntil().AsTime(),
		})
	}
	return p
}
