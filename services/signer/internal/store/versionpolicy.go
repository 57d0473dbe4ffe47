package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// recordVersionsChanged writes licensing.supportedversions.changed.v1 in q's
// transaction: holders of a copy of the policy reload it when it is relayed.
func recordVersionsChanged(ctx context.Context, q pgdb.Querier, what string) error {
	payload, err := proto.Marshal(&eventsv1.SupportedVersionsChanged{ChangedAt: timestamppb.Now(), What: what})
	if err != nil {
		return err
	}
	return outbox.Write(ctx, q, events.Event{Subject: events.SubjectSupportedVersionsChanged, AggregateID: "supportedversions", Payload: payload})
}

// VersionPolicy returns the policy row.
func (s *Store) VersionPolicy(ctx context.Context) (domain.VersionPolicy, error) {
	return versionPolicy(ctx, s.pool)
}

func versionPolicy(ctx context.Context, q pgdb.Querier) (domain.VersionPolicy, error) {
	var p domain.VersionPolicy
	var enforce *time.Time
	err := q.QueryRow(ctx, `SELECT default_support_months, enforce_from, updated_at FROM version_policy`).Scan(&p.DefaultSupportMonths, &enforce, &p.UpdatedAt)
	if enforce != nil {
		p.EnforceFrom = enforce.UTC()
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, err
}

// ChangeVersionPolicy applies c to the policy under its row lock and
// records the change when there is one.
func (s *Store) ChangeVersionPolicy(ctx context.Context, c domain.PolicyChange) (domain.VersionPolicy, error) {
	var out domain.VersionPolicy
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := versionPolicy(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM version_policy FOR UPDATE`); err != nil {
			return err
		}
		next, err := c.Apply(cur)
		if err != nil {
			return err
		}
		if next.DefaultSupportMonths == cur.DefaultSupportMonths && next.EnforceFrom.Equal(cur.EnforceFrom) {
			out = cur
			return nil
		}
		var enforce *time.Time
		if !next.EnforceFrom.IsZero() {
			enforce = &next.EnforceFrom
		}
		if err := tx.QueryRow(ctx, `UPDATE version_policy SET default_support_months = $1, enforce_from = $2, updated_at = now() RETURNING updated_at`,
			next.DefaultSupportMonths, enforce).Scan(&next.UpdatedAt); err != nil {
			return err
		}
		next.UpdatedAt = next.UpdatedAt.UTC()
		out = next
		return recordVersionsChanged(ctx, tx, "policy")
	})
	return out, err
}

const exceptionColumns = `id, coalesce(customer_id, ''), coalesce(license_id, ''), coalesce(workspace_id, ''), line, until, reason, created_at, removed_at`

func scanException(row pgx.Row) (domain.VersionException, error) {
	var e domain.VersionException
	var removed *time.Time
	err := row.Scan(&e.ID, &e.CustomerID, &e.LicenseID, &e.WorkspaceID, &e.Line, &e.Until, &e.Reason, &e.CreatedAt, &removed)
	e.Until, e.CreatedAt = e.Until.UTC(), e.CreatedAt.UTC()
	if removed != nil {
		e.RemovedAt = removed.UTC()
	}
	return e, err
}

// VersionExceptions returns the exceptions, newest first: those in force, or
// every one with removed; only customerID's when it is set.
func (s *Store) VersionExceptions(ctx context.Context, customerID string, removed bool) ([]domain.VersionException, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+exceptionColumns+` FROM version_exceptions
WHERE ($1 = '' OR customer_id = $1) AND ($2 OR removed_at IS NULL) ORDER BY created_at DESC, id`, customerID, removed)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.VersionException, error) { return scanException(r) })
}

// AddVersionException records e under the caller's idempotency key. A key
// already used with the same request hash returns the exception it made
// (created false); with another, domain.ErrIdempotencyKeyReused. A license
// exception is bound to the license's workspace; an unknown license is
// domain.ErrLicenseNotFound.
func (s *Store) AddVersionException(ctx context.Context, key string, hash []byte, e domain.VersionException) (out domain.VersionException, created bool, err error) {
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("idempotency:"+key)); err != nil {
			return err
		}
		var seen []byte
		err := tx.QueryRow(ctx, `SELECT request_hash, `+exceptionColumns+` FROM version_exceptions WHERE idempotency_key = $1`, key).Scan(&seen,
			&out.ID, &out.CustomerID, &out.LicenseID, &out.WorkspaceID, &out.Line, &out.Until, &out.Reason, &out.CreatedAt, new(*time.Time))
		switch {
		case err == nil && bytes.Equal(seen, hash):
			out, err = scanException(tx.QueryRow(ctx, `SELECT `+exceptionColumns+` FROM version_exceptions WHERE id = $1`, out.ID))
			created = false
			return err
		case err == nil:
			return fmt.Errorf("%w: key %q made exception %s", domain.ErrIdempotencyKeyReused, key, out.ID)
		case !pgdb.IsNoRows(err):
			return err
		}
		var workspace *string
		if e.LicenseID != "" {
			var ws string
			if err := tx.QueryRow(ctx, `SELECT workspace_id FROM licenses WHERE id = $1`, e.LicenseID).Scan(&ws); pgdb.IsNoRows(err) {
				return fmt.Errorf("%w: %s", domain.ErrLicenseNotFound, e.LicenseID)
			} else if err != nil {
				return err
			}
			workspace = &ws
		}
		out, err = scanException(tx.QueryRow(ctx, `
INSERT INTO version_exceptions (id, customer_id, license_id, workspace_id, line, until, reason, idempotency_key, request_hash)
VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5, $6, $7, $8, $9) RETURNING `+exceptionColumns,
			newExceptionID(), e.CustomerID, e.LicenseID, workspace, e.Line, e.Until, e.Reason, key, hash))
		if err != nil {
			return err
		}
		created = true
		return recordVersionsChanged(ctx, tx, "exception")
	})
	return out, created, err
}

// RemoveVersionException ends exception id now; one already removed is
// returned as it is.
func (s *Store) RemoveVersionException(ctx context.Context, id string) (domain.VersionException, error) {
	var out domain.VersionException
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanException(tx.QueryRow(ctx, `SELECT `+exceptionColumns+` FROM version_exceptions WHERE id = $1 FOR UPDATE`, id))
		if pgdb.IsNoRows(err) {
			return fmt.Errorf("%w: %s", domain.ErrVersionExceptionNotFound, id)
		}
		if err != nil || !out.RemovedAt.IsZero() {
			return err
		}
		if out, err = scanException(tx.QueryRow(ctx, `UPDATE version_exceptions SET removed_at = now() WHERE id = $1 RETURNING `+exceptionColumns, id)); err != nil {
			return err
		}
		return recordVersionsChanged(ctx, tx, "exception")
	})
	return out, err
}

// WorkspaceCustomer returns the customer the signer knows for a workspace
// ("" when it knows none).
func (s *Store) WorkspaceCustomer(ctx context.Context, workspaceID string) (string, error) {
	var c string
	err := s.pool.QueryRow(ctx, `SELECT customer_id FROM workspaces WHERE workspace_id = $1`, workspaceID).Scan(&c)
	if pgdb.IsNoRows(err) {
		return "", nil
	}
	return c, err
}

func newExceptionID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the platform is broken; nothing safe to do
	}
	return "vex_" + hex.EncodeToString(b)
}
