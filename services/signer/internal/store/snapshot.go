package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// Remembered is the recorded answer to a call with an idempotency key.
type Remembered struct {
	Method   string
	Hash     []byte
	Response []byte
}

// PlanRef is a plan's current version.
type PlanRef struct {
	Version   int
	IsDefault bool
}

// Snapshot is everything one subscription change reads: taken in one round
// trip, after the idempotency key's lock and the workspace's lock (in that
// order, always).
type Snapshot struct {
	// Remembered is set when the key was seen before; nothing else is read.
	Remembered        *Remembered
	Workspace         domain.Workspace
	WorkspaceFound    bool
	Subscription      domain.Subscription
	SubscriptionFound bool
	// LastSequence is the newest license or withdrawal sequence.
	LastSequence int64
	// Plans holds the current version of the plans asked for, of the
	// workspace's initial plan, of its subscription's plan and of the
	// default plan.
	Plans         map[string]PlanRef
	DefaultPlanID string
}

// Snapshot locks key (unless empty) and the workspace, and reads what a
// change of the workspace's subscription needs, with the current versions of
// planIDs: three statements in one round trip.
func (t *Tx) Snapshot(ctx context.Context, key, workspaceID string, planIDs []string) (Snapshot, error) {
	snap := Snapshot{Plans: map[string]PlanRef{}}
	b := &pgx.Batch{}
	if key != "" {
		// One statement takes both locks, the key's first (select lists are
		// evaluated in order).
		b.Queue(`SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)`,
			pgdb.AdvisoryKey("idempotency:"+key), pgdb.AdvisoryKey("license:"+workspaceID))
	} else {
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("license:"+workspaceID))
	}
	b.Queue(`SELECT k.method, k.request_hash, k.response,
			w.customer_id, w.initial_plan_id, w.client_name, w.registered_at,
			(`+lastSequenceQuery+`), p.ids, p.versions, p.defaults
		FROM (SELECT 1) one
		LEFT JOIN idempotency_keys k ON $2 <> '' AND k.key = $2
		LEFT JOIN workspaces w ON w.workspace_id = $1
		CROSS JOIN LATERAL (SELECT array_agg(id) AS ids, array_agg(version) AS versions, array_agg(is_default) AS defaults
			FROM plans WHERE id = ANY($3) OR is_default OR id = w.initial_plan_id
				OR id = (SELECT plan_id FROM subscriptions WHERE workspace_id = $1)) p`,
		workspaceID, key, planIDs).QueryRow(func(row pgx.Row) error {
		var method, customer, initialPlan, clientName *string
		var hash, response []byte
		var registered *time.Time
		var ids []string
		var versions []int32
		var defaults []bool
		if err := row.Scan(&method, &hash, &response, &customer, &initialPlan, &clientName, &registered,
			&snap.LastSequence, &ids, &versions, &defaults); err != nil {
			return err
		}
		if method != nil {
			snap.Remembered = &Remembered{Method: *method, Hash: hash, Response: response}
		}
		if customer != nil {
			snap.WorkspaceFound = true
			snap.Workspace = domain.Workspace{ID: workspaceID, CustomerID: *customer, InitialPlanID: *initialPlan, ClientName: *clientName, RegisteredAt: *registered}
		}
		for i, id := range ids {
			snap.Plans[id] = PlanRef{Version: int(versions[i]), IsDefault: defaults[i]}
			if defaults[i] {
				snap.DefaultPlanID = id
			}
		}
		return nil
	})
	b.Queue(`SELECT `+subscriptionColumns+` FROM subscriptions WHERE workspace_id = $1`, workspaceID).QueryRow(func(row pgx.Row) error {
		s, err := scanSubscription(row)
		if pgdb.IsNoRows(err) {
			return nil
		}
		snap.Subscription, snap.SubscriptionFound = s, err == nil
		return err
	})
	if err := t.q.SendBatch(ctx, b).Close(); err != nil {
		return snap, err
	}
	if snap.Remembered != nil {
		return Snapshot{Remembered: snap.Remembered}, nil
	}
	return snap, nil
}

// Changes are the writes of one subscription change, sent in one round trip.
type Changes struct {
	// Subscription is stored over the workspace's (created when missing).
	Subscription *domain.Subscription
	// License is appended with its license.issued event.
	License *domain.License
	// Withdrawal is appended with its license.withdrawn event.
	Withdrawal *domain.Withdrawal
	Trial      *Trial
	// Key records the answer under an idempotency key.
	Key *Remembered
	// KeyName is the idempotency key Key is recorded under.
	KeyName string
}

// Trial is a trial started.
type Trial struct {
	PlanID     string
	Start, End time.Time
	Override   bool
}

// Write stores c: its statements travel together in one round trip.
func (t *Tx) Write(ctx context.Context, c Changes) error {
	b := &pgx.Batch{}
	if s := c.Subscription; s != nil {
		limits, err := json.Marshal(s.Limits)
		if err != nil {
			return err
		}
		b.Queue(upsertSubscription, subscriptionArgs(*s, limits)...)
	}
	if l := c.License; l != nil {
		if l.Modules == nil {
			l.Modules = []string{}
		}
		b.Queue(insertLicense, l.ID, l.WorkspaceID, l.Sequence, l.PlanID, l.PlanVersion, l.Address, l.Token, l.KeyID, l.IssuedAt, l.ExpiresAt, l.Modules, l.Trial, l.Offline)
		logSQL, logArgs, err := translog.EnqueueStatement(tlog.LicenseLeaf(l.WorkspaceID, l.Sequence, l.Token))
		if err != nil {
			return err
		}
		b.Queue(logSQL, logArgs...)
		row, err := issuedEvent(ctx, *l)
		if err != nil {
			return err
		}
		b.Queue(outbox.Insert+` VALUES ($1, $2, $3)`, row.Subject, row.Payload, row.Headers)
	}
	if w := c.Withdrawal; w != nil {
		b.Queue(`INSERT INTO license_withdrawals (workspace_id, sequence, reason, withdrawn_at) VALUES ($1, $2, $3, $4)`,
			w.WorkspaceID, w.Sequence, w.Reason, w.At)
		row, err := withdrawnEvent(ctx, *w)
		if err != nil {
			return err
		}
		b.Queue(outbox.Insert+` VALUES ($1, $2, $3)`, row.Subject, row.Payload, row.Headers)
	}
	if tr := c.Trial; tr != nil && c.Subscription != nil {
		b.Queue(`INSERT INTO trials (workspace_id, plan_id, started_at, ends_at, override) VALUES ($1, $2, $3, $4, $5)`,
			c.Subscription.WorkspaceID, tr.PlanID, tr.Start, tr.End, tr.Override)
	}
	if k := c.Key; k != nil {
		b.Queue(`INSERT INTO idempotency_keys (key, method, request_hash, response) VALUES ($1, $2, $3, $4)`, c.KeyName, k.Method, k.Hash, k.Response)
	}
	if err := t.q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write subscription change: %w", err)
	}
	return nil
}

func issuedEvent(ctx context.Context, l domain.License) (outbox.Row, error) {
	payload, err := proto.Marshal(&eventsv1.LicenseIssued{
		LicenseId: l.ID, WorkspaceId: l.WorkspaceID, Sequence: l.Sequence, PlanId: l.PlanID, PlanVersion: int32(l.PlanVersion),
		Address: l.Address, Token: l.Token, Kid: l.KeyID, IssuedAt: timestamppb.New(l.IssuedAt),
	})
	if err != nil {
		return outbox.Row{}, err
	}
	return outbox.NewRow(ctx, events.Event{Subject: events.SubjectLicenseIssued, AggregateID: l.WorkspaceID, Sequence: l.Sequence, Payload: payload})
}

func withdrawnEvent(ctx context.Context, w domain.Withdrawal) (outbox.Row, error) {
	payload, err := proto.Marshal(&eventsv1.LicenseWithdrawn{
		WorkspaceId: w.WorkspaceID, Sequence: w.Sequence, Reason: w.Reason, WithdrawnAt: timestamppb.New(w.At),
	})
	if err != nil {
		return outbox.Row{}, err
	}
	return outbox.NewRow(ctx, events.Event{Subject: events.SubjectLicenseWithdrawn, AggregateID: w.WorkspaceID, Sequence: w.Sequence, Payload: payload})
}

// License returns one license by id.
func (t *Tx) License(ctx context.Context, id string) (domain.License, error) {
	l, err := scanLicense(t.q.QueryRow(ctx, `SELECT `+licenseColumns+` FROM licenses WHERE id = $1`, id))
	if pgdb.IsNoRows(err) {
		return l, fmt.Errorf("license %s not found", id)
	}
	return l, err
}
