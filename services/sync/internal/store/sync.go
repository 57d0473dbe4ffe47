package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// recordReport is a whole sync of a workspace that has a view, in one
// statement (one round trip, committed on its own): it stamps the view, keeps
// the report and, when the report must be announced, writes the
// workspace.synced outbox row. The report is announced when the unique id,
// address or version changed, or the last announcement is over an hour old
// (SET expressions read the row's old values). With no view there is nothing
// to stamp and no row comes back.
//
// A plain usage report need not wait for the disk: lost in a crash, it is
// reported again on the next sync. set_config(..., true) turns off the wait
// for this statement's own commit only, so the hot path does not queue
// behind WAL flushes while every other write stays synchronous.
const recordReport = `WITH v AS (
		UPDATE views SET last_synced_at = GREATEST(last_synced_at, $10),
			announced_at = CASE WHEN reported_unique_id IS DISTINCT FROM $2 OR reported_address IS DISTINCT FROM $3
				OR reported_version IS DISTINCT FROM $4 OR announced_at IS NULL OR announced_at < $10 - interval '1 hour'
				THEN $10 ELSE announced_at END,
			reported_unique_id = $2, reported_address = $3, reported_version = $4, reported_seats = $5, reported_mac = $6
		WHERE workspace_id = $1
		RETURNING ` + viewColumns + `, announced_at = $10 AS announce
	), r AS (
		INSERT INTO usage_reports (workspace_id, unique_id, address, version, seats, monthly_active_contacts, site_name, connection_disabled, raw, received_at)
		SELECT workspace_id, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM v
	), o AS (
		` + outbox.Insert + ` SELECT $11, $12, $13 FROM v WHERE v.announce
	)
	SELECT ` + viewColumns + `, set_config('synchronous_commit', 'off', true) FROM v`

// RecordReport is a sync of a workspace that already has a view: the report
// is stored and the view returned as committed, with no license change. A
// workspace without a view gives domain.ErrWorkspaceNotFound (its first sync
// goes through RecordSync with the license the signer issued).
func (s *Store) RecordReport(ctx context.Context, workspaceID string, r domain.Report) (domain.View, error) {
	return s.recordReport(ctx, s.pool, workspaceID, r)
}

func (s *Store) recordReport(ctx context.Context, q pgdb.Querier, workspaceID string, r domain.Report) (domain.View, error) {
	// The time is taken here so the event and the stored report agree on it.
	at := time.Now().UTC().Truncate(time.Microsecond)
	payload, err := proto.Marshal(&eventsv1.WorkspaceSynced{
		WorkspaceId: workspaceID, UniqueId: r.UniqueID, Address: r.Address, Version: r.Version,
		Seats: r.Seats, MonthlyActiveContacts: r.MonthlyActiveContacts, SyncedAt: timestamppb.New(at),
	})
	if err != nil {
		return domain.View{}, err
	}
	// No aggregate sequence: the workspace's counter belongs to the
	// registry, and consumers order syncs by synced_at.
	row, err := outbox.NewRow(ctx, events.Event{Subject: events.SubjectWorkspaceSynced, AggregateID: workspaceID, Payload: payload})
	if err != nil {
		return domain.View{}, err
	}
	var v domain.View
	var ignored string
	err = q.QueryRow(ctx, recordReport, workspaceID, r.UniqueID, r.Address, r.Version, r.Seats,
		r.MonthlyActiveContacts, r.SiteName, r.ConnectionDisabled, r.RawJSON(), at,
		row.Subject, row.Payload, row.Headers).
		Scan(&v.WorkspaceID, &v.Revision, &v.LicenseSequence, &v.License, &v.LicenseAddress, &v.RemoveLicense, &v.UpdatedAt, &v.LastSyncedAt, &ignored)
	if pgdb.IsNoRows(err) {
		return v, domain.ErrWorkspaceNotFound
	}
	return v, err
}

// RecordSync is the write of a sync that brings a license (one just obtained
// from the signer): in one transaction it applies lic under the same rule as
// the event consumer, then records the report as RecordReport does. It
// returns the view as committed.
func (s *Store) RecordSync(ctx context.Context, workspaceID string, lic domain.License, r domain.Report) (domain.View, error) {
	var out domain.View
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.ApplyLicense(ctx, tx, workspaceID, lic); err != nil {
			return err
		}
		// The license must be durable even though the report need not be:
		// set_config in recordReport is local to the transaction, so turn it
		// back on for this commit.
		var err error
		if out, err = s.recordReport(ctx, tx, workspaceID, r); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SET LOCAL synchronous_commit = on")
		return err
	})
	return out, err
}
