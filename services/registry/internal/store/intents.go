package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

const intentColumns = `id, workspace_id, user_code, unique_id, contact_email, address, site_name, account_name, version, data::text,
	verification_url, state, created_at, expires_at, last_polled_at, mails_requested, client_id,
	device_code_sealed, confirm_code_sealed, client_secret_sealed`

func scanIntent(row pgx.Row, extra ...any) (domain.Intent, error) {
	var i domain.Intent
	err := row.Scan(append([]any{&i.ID, &i.WorkspaceID, &i.UserCode, &i.Data.UniqueID, &i.Data.ContactEmail, &i.Data.Address,
		&i.Data.SiteName, &i.Data.AccountName, &i.Data.Version, &i.Data.RawJSON, &i.VerificationURL, &i.State, &i.CreatedAt,
		&i.ExpiresAt, &i.LastPolledAt, &i.MailsRequested, &i.ClientID, &i.DeviceCodeSealed, &i.ConfirmCodeSealed, &i.ClientSecretSealed}, extra...)...)
	return i, err
}

// NewIntent is what CreateIntent stores.
type NewIntent struct {
	Intent          domain.Intent
	DeviceCodeHash  string
	ConfirmCodeHash string
	TTL             time.Duration
}

// rawJSON returns the registration data as a JSON object for the jsonb
// column ("{}" when the caller kept none).
func rawJSON(s string) string {
	if s == "" || !json.Valid([]byte(s)) {
		return "{}"
	}
	return s
}

func intentEvent(subject, intentID string, mail int) (events.Event, error) {
	payload, err := proto.Marshal(&eventsv1.RegistrationIntentCreated{IntentId: intentID, MailNumber: int32(mail), CreatedAt: timestamppb.Now()})
	return events.Event{Subject: subject, AggregateID: intentID, Sequence: int64(mail), Payload: payload}, err
}

// CreateIntent stores a pending workspace and its registration intent, and
// records the request for the first confirmation e-mail, in one transaction.
func (s *Store) CreateIntent(ctx context.Context, n NewIntent) (domain.Intent, error) {
	in := n.Intent
	var out domain.Intent
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO workspaces (id, state, client_name, contact_email, unique_id, address, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, in.WorkspaceID, domain.StatePending, in.Data.SiteName, in.Data.ContactEmail,
			in.Data.UniqueID, in.Data.Address, in.Data.Version); err != nil {
			return err
		}
		var err error
		out, err = scanIntent(tx.QueryRow(ctx, `INSERT INTO registration_intents (id, workspace_id, device_code_hash, device_code_sealed,
				confirm_code_hash, confirm_code_sealed, user_code, unique_id, contact_email, address, site_name, account_name, version,
				data, verification_url, state, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, now() + make_interval(secs => $17))
			RETURNING `+intentColumns,
			in.ID, in.WorkspaceID, n.DeviceCodeHash, in.DeviceCodeSealed, n.ConfirmCodeHash, in.ConfirmCodeSealed, in.UserCode,
			in.Data.UniqueID, in.Data.ContactEmail, in.Data.Address, in.Data.SiteName, in.Data.AccountName, in.Data.Version,
			rawJSON(in.Data.RawJSON), in.VerificationURL, domain.IntentPending, n.TTL.Seconds()))
		if err != nil {
			return err
		}
		e, err := intentEvent(events.SubjectRegistrationIntentCreated, out.ID, 1)
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, e)
	})
	return out, err
}

// ResendIntent finds the newest pending, unexpired intent of the unique id
// and contact e-mail and records a request for one more confirmation
// e-mail. found is false when there is none.
func (s *Store) ResendIntent(ctx context.Context, uniqueID, email string) (out domain.Intent, found bool, err error) {
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		found = false
		var err error
		out, err = scanIntent(tx.QueryRow(ctx, `SELECT `+intentColumns+` FROM registration_intents
			WHERE state = 'pending' AND expires_at > now() AND unique_id = $1 AND lower(contact_email) = lower($2)
			ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, uniqueID, email))
		if pgdb.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if out.MailsRequested >= domain.MaxIntentMails {
			return domain.ErrTooManyMails
		}
		out.MailsRequested++
		if _, err := tx.Exec(ctx, `UPDATE registration_intents SET mails_requested = $2 WHERE id = $1`, out.ID, out.MailsRequested); err != nil {
			return err
		}
		e, err := intentEvent(events.SubjectRegistrationIntentResent, out.ID, out.MailsRequested)
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, e)
	})
	return out, found, err
}

// Poll answers a poll by device code hash at the database's clock. A poll
// that is not told to slow down is recorded as the last one; an expired
// intent's held secret is erased.
func (s *Store) Poll(ctx context.Context, deviceHash string, interval time.Duration) (domain.Intent, domain.PollStatus, error) {
	var in domain.Intent
	var status domain.PollStatus
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var now time.Time
		var err error
		in, err = scanIntent(tx.QueryRow(ctx, `SELECT `+intentColumns+`, now() FROM registration_intents WHERE device_code_hash = $1 FOR UPDATE`, deviceHash), &now)
		if pgdb.IsNoRows(err) {
			return domain.ErrIntentNotFound
		}
		if err != nil {
			return err
		}
		status = in.PollAt(now, interval)
		switch {
		case status == domain.PollExpired && in.ClientSecretSealed != nil:
			in.ClientSecretSealed = nil
			_, err = tx.Exec(ctx, `UPDATE registration_intents SET client_secret_sealed = NULL, secret_erased_at = now(), last_polled_at = now() WHERE id = $1`, in.ID)
		case status != domain.PollSlowDown:
			_, err = tx.Exec(ctx, `UPDATE registration_intents SET last_polled_at = now() WHERE id = $1`, in.ID)
		}
		return err
	})
	return in, status, err
}

// IntentByConfirmCode returns the intent a confirmation link names, and
// the database's clock.
func (s *Store) IntentByConfirmCode(ctx context.Context, confirmHash string) (domain.Intent, time.Time, error) {
	var now time.Time
	in, err := scanIntent(s.pool.QueryRow(ctx, `SELECT `+intentColumns+`, now() FROM registration_intents WHERE confirm_code_hash = $1`, confirmHash), &now)
	if pgdb.IsNoRows(err) {
		return in, now, domain.ErrIntentNotFound
	}
	return in, now, err
}

// Credentials are what a confirmation obtains from the token service.
type Credentials struct {
	ClientID     string
	SecretSealed []byte
}

// ConfirmIntent confirms the pending intent of confirmHash: it finds the
// customer whose contact e-mail is the intent's (the oldest such), or
// creates one named after the registration data; obtains credentials with
// issue; and makes the workspace registered with workspace.registered, all
// in one transaction that holds the intent's row lock (so two confirmations
// cannot both issue). An intent already confirmed is returned as it is.
func (s *Store) ConfirmIntent(ctx context.Context, confirmHash string, issue func(domain.Intent) (Credentials, error)) (domain.Intent, domain.Workspace, error) {
	var in domain.Intent
	var w domain.Workspace
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var now time.Time
		var err error
		in, err = scanIntent(tx.QueryRow(ctx, `SELECT `+intentColumns+`, now() FROM registration_intents WHERE confirm_code_hash = $1 FOR UPDATE`, confirmHash), &now)
		if pgdb.IsNoRows(err) {
			return domain.ErrIntentNotFound
		}
		if err != nil {
			return err
		}
		switch {
		case in.State == domain.IntentRejected:
			return domain.ErrIntentRejected
		case in.State == domain.IntentConfirmed:
			w, err = scanWorkspace(tx.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`, in.WorkspaceID))
			return err
		case !now.Before(in.ExpiresAt):
			return domain.ErrIntentExpired
		}
		// One customer per contact e-mail even when two of its workspaces
		// are confirmed at once.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('customer-contact:' || lower($1), 0))`, in.Data.ContactEmail); err != nil {
			return err
		}
		var customerID string
		err = tx.QueryRow(ctx, `SELECT id FROM customers WHERE lower(contact_email) = lower($1) ORDER BY created_at, id LIMIT 1`, in.Data.ContactEmail).Scan(&customerID)
		if pgdb.IsNoRows(err) {
			c, cerr := createCustomer(ctx, tx, in.Data.CustomerName(), in.Data.ContactEmail)
			customerID, err = c.ID, cerr
		}
		if err != nil {
			return err
		}
		creds, err := issue(in)
		if err != nil {
			return err
		}
		in.State, in.ClientID, in.ClientSecretSealed, in.ConfirmCodeSealed = domain.IntentConfirmed, creds.ClientID, creds.SecretSealed, nil
		if _, err := tx.Exec(ctx, `UPDATE registration_intents SET state = 'confirmed', decided_at = now(), client_id = $2,
			client_secret_sealed = $3, confirm_code_sealed = NULL WHERE id = $1`, in.ID, creds.ClientID, creds.SecretSealed); err != nil {
			return err
		}
		w, err = scanWorkspace(tx.QueryRow(ctx, `UPDATE workspaces SET state = 'registered', customer_id = $2, registered_at = now(),
			event_seq = event_seq + 1 WHERE id = $1 AND state = 'pending' RETURNING `+workspaceColumns, in.WorkspaceID, customerID))
		if err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT event_seq FROM workspaces WHERE id = $1`, w.ID).Scan(&seq); err != nil {
			return err
		}
		payload, err := proto.Marshal(&eventsv1.WorkspaceRegistered{
			WorkspaceId: w.ID, CustomerId: w.CustomerID, ClientName: w.ClientName, RegisteredAt: timestamppb.New(w.RegisteredAt),
		})
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, events.Event{Subject: events.SubjectWorkspaceRegistered, AggregateID: w.ID, Sequence: seq, Payload: payload})
	})
	return in, w, err
}

// RejectIntent rejects the pending intent of confirmHash; its pending
// workspace is closed (it never registered, so nobody is told). Rejecting
// again is a no-op.
func (s *Store) RejectIntent(ctx context.Context, confirmHash string) (domain.Intent, error) {
	var in domain.Intent
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var now time.Time
		var err error
		in, err = scanIntent(tx.QueryRow(ctx, `SELECT `+intentColumns+`, now() FROM registration_intents WHERE confirm_code_hash = $1 FOR UPDATE`, confirmHash), &now)
		if pgdb.IsNoRows(err) {
			return domain.ErrIntentNotFound
		}
		if err != nil {
			return err
		}
		switch {
		case in.State == domain.IntentRejected:
			return nil
		case in.State == domain.IntentConfirmed:
			return domain.ErrIntentDone
		case !now.Before(in.ExpiresAt):
			return domain.ErrIntentExpired
		}
		in.State, in.ConfirmCodeSealed = domain.IntentRejected, nil
		if _, err := tx.Exec(ctx, `UPDATE registration_intents SET state = 'rejected', decided_at = now(), confirm_code_sealed = NULL WHERE id = $1`, in.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE workspaces SET state = 'deregistered' WHERE id = $1 AND state = 'pending'`, in.WorkspaceID)
		return err
	})
	return in, err
}

// EraseSecret drops the client secret an intent holds (its credentials
// were used).
func (s *Store) EraseSecret(ctx context.Context, intentID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE registration_intents SET client_secret_sealed = NULL, secret_erased_at = now()
		WHERE id = $1 AND client_secret_sealed IS NOT NULL`, intentID)
	return err
}

// EraseExpiredSecrets drops the client secrets of expired intents, so a
// secret the workspace never polled for does not stay.
func (s *Store) EraseExpiredSecrets(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE registration_intents SET client_secret_sealed = NULL, secret_erased_at = now()
		WHERE client_secret_sealed IS NOT NULL AND expires_at <= now()`)
	return tag.RowsAffected(), err
}

// MailRequest is what the mailer needs to send one confirmation e-mail.
type MailRequest struct {
	Intent domain.Intent
	Now    time.Time
	// Done: this mail was already sent (or skipped).
	Done bool
}

// MailRequest reads, inside the mailer's transaction, the intent of mail
// (intentID, number) and whether the mail was already handled.
func (s *Store) MailRequest(ctx context.Context, tx pgx.Tx, intentID string, number int) (MailRequest, error) {
	var r MailRequest
	var err error
	r.Intent, err = scanIntent(tx.QueryRow(ctx, `SELECT `+intentColumns+`, now() FROM registration_intents WHERE id = $1`, intentID), &r.Now)
	if pgdb.IsNoRows(err) {
		return r, domain.ErrIntentNotFound
	}
	if err != nil {
		return r, err
	}
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM intent_mails WHERE intent_id = $1 AND mail_number = $2)`, intentID, number).Scan(&r.Done)
	return r, err
}

// RecordMail records mail (intentID, number) as sent or skipped.
func (s *Store) RecordMail(ctx context.Context, tx pgx.Tx, intentID string, number int, messageID, outcome string) error {
	_, err := tx.Exec(ctx, `INSERT INTO intent_mails (intent_id, mail_number, message_id, outcome) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, intentID, number, messageID, outcome)
	return err
}

// Deregister makes a workspace deregistered and records
// workspace.deregistered in the same transaction; a workspace already
// deregistered is returned unchanged (changed false).
func (s *Store) Deregister(ctx context.Context, id string) (w domain.Workspace, changed bool, err error) {
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var seq int64
		var err error
		w, err = scanWorkspace(tx.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1 FOR UPDATE`, id))
		if pgdb.IsNoRows(err) {
			return domain.ErrWorkspaceNotFound
		}
		if err != nil {
			return err
		}
		if w.State == domain.StateDeregistered {
			changed = false
			return nil
		}
		if err := tx.QueryRow(ctx, `UPDATE workspaces SET state = 'deregistered', event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq`, id).Scan(&seq); err != nil {
			return err
		}
		w.State, changed = domain.StateDeregistered, true
		payload, err := proto.Marshal(&eventsv1.WorkspaceDeregistered{WorkspaceId: id, DeregisteredAt: timestamppb.Now()})
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, events.Event{Subject: events.SubjectWorkspaceDeregistered, AggregateID: id, Sequence: seq, Payload: payload})
	})
	return w, changed, err
}
