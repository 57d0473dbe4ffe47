package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
)

// Tx is the signer schema inside one transaction.
type Tx struct {
	q pgx.Tx
}

// WithTx wraps a transaction someone else began (the event consumer's, which
// also records the message id).
func WithTx(tx pgx.Tx) *Tx { return &Tx{q: tx} }

// LockWorkspace serialises every license issuance of one workspace until the
// transaction ends, so sequences have neither gaps nor duplicates.
func (t *Tx) LockWorkspace(ctx context.Context, workspaceID string) error {
	_, err := t.q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("license:"+workspaceID))
	return err
}

// Workspace returns what the signer knows of a workspace.
func (t *Tx) Workspace(ctx context.Context, id string) (domain.Workspace, error) {
	return workspace(ctx, t.q, id)
}

// SaveWorkspace stores w unless the workspace is known already.
func (t *Tx) SaveWorkspace(ctx context.Context, w domain.Workspace) error {
	return saveWorkspace(ctx, t.q, w)
}

// Plan returns one plan at its current version.
func (t *Tx) Plan(ctx context.Context, id string) (domain.Plan, error) { return plan(ctx, t.q, id) }

// PlanVersion returns one version of a plan.
func (t *Tx) PlanVersion(ctx context.Context, id string, version int) (domain.Plan, error) {
	return planVersion(ctx, t.q, id, version)
}

// DefaultPlan returns the plan of workspaces whose registration named none.
func (t *Tx) DefaultPlan(ctx context.Context) (domain.Plan, error) { return defaultPlan(ctx, t.q) }

// LatestLicense returns the workspace's newest license; found is false when
// it has none.
func (t *Tx) LatestLicense(ctx context.Context, workspaceID string) (domain.License, bool, error) {
	return latestLicense(ctx, t.q, workspaceID)
}

func latestLicense(ctx context.Context, q pgdb.Querier, workspaceID string) (l domain.License, found bool, err error) {
	l, err = scanLicense(q.QueryRow(ctx, `SELECT `+licenseColumns+` FROM licenses
		WHERE workspace_id = $1 ORDER BY sequence DESC LIMIT 1`, workspaceID))
	if pgdb.IsNoRows(err) {
		return l, false, nil
	}
	return l, err == nil, err
}

const insertLicense = `INSERT INTO licenses (` + licenseColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// AppendLicense records an issued license: the row, its leaf in the
// issuance log's queue, the subscription's new binding, and the
// license.issued event, which only ever travel together.
func (t *Tx) AppendLicense(ctx context.Context, l domain.License) error {
	if l.Modules == nil {
		l.Modules = []string{}
	}
	if _, err := t.q.Exec(ctx, insertLicense,
		l.ID, l.WorkspaceID, l.Sequence, l.PlanID, l.PlanVersion, l.Address, l.Token, l.KeyID, l.IssuedAt, l.ExpiresAt, l.Modules, l.Trial, l.Offline); err != nil {
		return fmt.Errorf("insert license: %w", err)
	}
	if err := translog.Enqueue(ctx, t.q, tlog.LicenseLeaf(l.WorkspaceID, l.Sequence, l.Token)); err != nil {
		return err
	}
	if _, err := t.q.Exec(ctx, `UPDATE subscriptions SET address = $2, updated_at = now() WHERE workspace_id = $1 AND address <> $2`,
		l.WorkspaceID, l.Address); err != nil {
		return fmt.Errorf("update subscription address: %w", err)
	}
	payload, err := proto.Marshal(&eventsv1.LicenseIssued{
		LicenseId: l.ID, WorkspaceId: l.WorkspaceID, Sequence: l.Sequence, PlanId: l.PlanID, PlanVersion: int32(l.PlanVersion),
		Address: l.Address, Token: l.Token, Kid: l.KeyID, IssuedAt: timestamppb.New(l.IssuedAt),
	})
	if err != nil {
		return err
	}
	return outbox.Write(ctx, t.q, events.Event{Subject: events.SubjectLicenseIssued, AggregateID: l.WorkspaceID, Sequence: l.Sequence, Payload: payload})
}

// LockChanges takes the locks of several subscription changes at once, in
// the order every transaction takes them (idempotency keys before
// workspaces, each kind in ascending lock order), so transactions taking
// several cannot deadlock with each other or with those taking one key and
// one workspace. Empty keys take no lock.
func (t *Tx) LockChanges(ctx context.Context, keys, workspaceIDs []string) error {
	locks := func(prefix string, names []string) []int64 {
		var out []int64
		for _, n := range names {
			if n != "" {
				out = append(out, pgdb.AdvisoryKey(prefix+n))
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	all := append(locks("idempotency:", keys), locks("license:", workspaceIDs)...)
	// unnest yields the array in order, and each row takes its lock as the
	// scan reaches it.
	_, err := t.q.Exec(ctx, `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`, all)
	return err
}

// Broken says whether a statement failed in the transaction, which can then
// only roll back.
func (t *Tx) Broken() bool { return t.q.Conn().PgConn().TxStatus() == 'E' }
