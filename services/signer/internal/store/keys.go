package store

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const keyColumns = `kid, algorithm, state, public_spki, backend, material, created_at, not_before, retired_at, not_after, revoked_at, revoked_reason`

// SigningKey is a keyset record with what only the store keeps beside it.
type SigningKey struct {
	keys.Record
	RevokedReason string
}

func scanKey(row pgx.Row) (SigningKey, error) {
	var k SigningKey
	var state string
	var spki []byte
	var notBefore, retiredAt, notAfter, revokedAt *time.Time
	if err := row.Scan(&k.ID, &k.Algorithm, &state, &spki, &k.Backend, &k.Ref, &k.CreatedAt,
		&notBefore, &retiredAt, &notAfter, &revokedAt, &k.RevokedReason); err != nil {
		return k, err
	}
	st, err := keys.ParseState(state)
	if err != nil {
		return k, err
	}
	k.State = st
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return k, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return k, fmt.Errorf("signing key %s is not RSA", k.ID)
	}
	k.Public = rsaPub
	k.NotBefore, k.RetiredAt, k.NotAfter, k.RevokedAt = deref(notBefore), deref(retiredAt), deref(notAfter), deref(revokedAt)
	return k, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func signingKeys(ctx context.Context, q pgdb.Querier) ([]SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SigningKey, error) { return scanKey(r) })
}

// SigningKeys returns the keyset, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	return signingKeys(ctx, s.pool)
}

// LockKeyset serialises every change of the keyset until the transaction
// ends.
func (t *Tx) LockKeyset(ctx context.Context) error {
	_, err := t.q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("keyset:license"))
	return err
}

// SigningKeys returns the keyset, newest first.
func (t *Tx) SigningKeys(ctx context.Context) ([]SigningKey, error) { return signingKeys(ctx, t.q) }

// InsertSigningKey adds a key. A key already in the keyset is
// domain.ErrKeyExists.
func (t *Tx) InsertSigningKey(ctx context.Context, k SigningKey) error {
	spki, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return err
	}
	tag, err := t.q.Exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (kid) DO NOTHING`,
		k.ID, k.Algorithm, string(k.State), spki, k.Backend, k.Ref, k.CreatedAt,
		nullTime(k.NotBefore), nullTime(k.RetiredAt), nullTime(k.NotAfter), nullTime(k.RevokedAt), k.RevokedReason)
	if err != nil {
		return fmt.Errorf("insert signing key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", domain.ErrKeyExists, k.ID)
	}
	return nil
}

// UpdateSigningKey writes k's state and window.
func (t *Tx) UpdateSigningKey(ctx context.Context, k SigningKey) error {
	_, err := t.q.Exec(ctx, `UPDATE signing_keys SET state = $2, not_before = $3, retired_at = $4, not_after = $5,
		revoked_at = $6, revoked_reason = $7 WHERE kid = $1`,
		k.ID, string(k.State), nullTime(k.NotBefore), nullTime(k.RetiredAt), nullTime(k.NotAfter), nullTime(k.RevokedAt), k.RevokedReason)
	if err != nil {
		return fmt.Errorf("update signing key %s: %w", k.ID, err)
	}
	return nil
}

// KeysetChange is one numbered change of the keyset.
type KeysetChange struct {
	Version int64
	Change  string
	KID     string
	At      time.Time
}

// RecordKeysetChange numbers the change and writes it with its
// keyset.changed event carrying the keyset as it now stands.
func (t *Tx) RecordKeysetChange(ctx context.Context, change, kid string, at time.Time) (KeysetChange, error) {
	c := KeysetChange{Change: change, KID: kid, At: at}
	if err := t.q.QueryRow(ctx, `INSERT INTO keyset_changes (version, change, kid, changed_at)
		SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM keyset_changes RETURNING version`, change, kid, at).Scan(&c.Version); err != nil {
		return c, fmt.Errorf("record keyset change: %w", err)
	}
	all, err := t.SigningKeys(ctx)
	if err != nil {
		return c, err
	}
	ev := &eventsv1.KeysetChanged{Change: change, Kid: kid, ChangedAt: timestamppb.New(at), Purpose: "license"}
	for _, k := range all {
		spki, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			return c, err
		}
		ev.Keys = append(ev.Keys, &eventsv1.KeysetKey{Kid: k.ID, Algorithm: k.Algorithm, State: string(k.State), SpkiDer: spki,
			NotBefore: ts(k.NotBefore), RetiredAt: ts(k.RetiredAt), NotAfter: ts(k.NotAfter)})
	}
	payload, err := proto.Marshal(ev)
	if err != nil {
		return c, err
	}
	return c, outbox.Write(ctx, t.q, events.Event{Subject: events.SubjectKeysetChanged, AggregateID: "license", Sequence: c.Version, Payload: payload})
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// ResignJob is a job re-issuing current licenses with the key TargetKID.
type ResignJob struct {
	ID, TargetKID, State, Cursor string
	Total, Visited, Resigned     int64
	CreatedAt, UpdatedAt         time.Time
}

const resignColumns = `id, target_kid, state, cursor, total, visited, resigned, created_at, updated_at`

func scanResign(row pgx.Row) (ResignJob, error) {
	var j ResignJob
	err := row.Scan(&j.ID, &j.TargetKID, &j.State, &j.Cursor, &j.Total, &j.Visited, &j.Resigned, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, domain.ErrResignJobNotFound
	}
	return j, err
}

// ResignJob returns one job.
func (s *Store) ResignJob(ctx context.Context, id string) (ResignJob, error) {
	return scanResign(s.pool.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE id = $1`, id))
}

// StartResignJob starts a job for targetKID, or returns the running one: at
// most one runs at a time. A running job for an older key is finished first,
// since the new one visits every workspace anyway.
func (t *Tx) StartResignJob(ctx context.Context, id, targetKID string) (ResignJob, error) {
	running, err := scanResign(t.q.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE state = 'running' FOR UPDATE`))
	switch {
	case err == nil && running.TargetKID == targetKID:
		return running, nil
	case err == nil:
		if _, err := t.q.Exec(ctx, `UPDATE resign_jobs SET state = 'done', updated_at = now() WHERE id = $1`, running.ID); err != nil {
			return ResignJob{}, err
		}
	case !errors.Is(err, domain.ErrResignJobNotFound):
		return ResignJob{}, err
	}
	return scanResign(t.q.QueryRow(ctx, `INSERT INTO resign_jobs (id, target_kid, state, total)
		SELECT $1, $2, 'running', count(*) FROM workspaces RETURNING `+resignColumns, id, targetKID))
}

// ClaimResignJob locks the running job for one batch; found is false when
// none runs or another replica holds it.
func (t *Tx) ClaimResignJob(ctx context.Context) (j ResignJob, found bool, err error) {
	j, err = scanResign(t.q.QueryRow(ctx, `SELECT `+resignColumns+` FROM resign_jobs WHERE state = 'running' FOR UPDATE SKIP LOCKED`))
	if errors.Is(err, domain.ErrResignJobNotFound) {
		return j, false, nil
	}
	return j, err == nil, err
}

// WorkspacesAfter returns up to limit workspace ids after cursor, in order.
func (t *Tx) WorkspacesAfter(ctx context.Context, cursor string, limit int) ([]string, error) {
	rows, err := t.q.Query(ctx, `SELECT workspace_id FROM workspaces WHERE workspace_id > $1 ORDER BY workspace_id LIMIT $2`, cursor, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AdvanceResignJob records a batch's progress; done ends the job.
func (t *Tx) AdvanceResignJob(ctx context.Context, id, cursor string, visited, resigned int64, done bool) error {
	state := "running"
	if done {
		state = "done"
	}
	_, err := t.q.Exec(ctx, `UPDATE resign_jobs SET cursor = $2, visited = visited + $3, resigned = resigned + $4,
		state = $5, updated_at = now() WHERE id = $1`, id, cursor, visited, resigned, state)
	return err
}
