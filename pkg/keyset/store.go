package keyset

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
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
)

const keyColumns = `kid, algorithm, state, public_spki, backend, material, created_at, not_before, retired_at, not_after, revoked_at, revoked_reason`

// Key is a keyset record with what only the store keeps beside it.
type Key struct {
	keys.Record
	RevokedReason string
}

func scanKey(row pgx.Row) (Key, error) {
	var k Key
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
	k.CreatedAt = k.CreatedAt.UTC()
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

func listKeys(ctx context.Context, q pgdb.Querier) ([]Key, error) {
	rows, err := q.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
}

func lockKeyset(ctx context.Context, q pgdb.Querier, purpose string) error {
	_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.AdvisoryKey("keyset:"+purpose))
	return err
}

func insertKey(ctx context.Context, q pgdb.Querier, k Key) error {
	spki, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (kid) DO NOTHING`,
		k.ID, k.Algorithm, string(k.State), spki, k.Backend, k.Ref, k.CreatedAt,
		nullTime(k.NotBefore), nullTime(k.RetiredAt), nullTime(k.NotAfter), nullTime(k.RevokedAt), k.RevokedReason)
	if err != nil {
		return fmt.Errorf("insert signing key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrKeyExists, k.ID)
	}
	return nil
}

func updateKey(ctx context.Context, q pgdb.Querier, k Key) error {
	_, err := q.Exec(ctx, `UPDATE signing_keys SET state = $2, not_before = $3, retired_at = $4, not_after = $5,
		revoked_at = $6, revoked_reason = $7 WHERE kid = $1`,
		k.ID, string(k.State), nullTime(k.NotBefore), nullTime(k.RetiredAt), nullTime(k.NotAfter), nullTime(k.RevokedAt), k.RevokedReason)
	if err != nil {
		return fmt.Errorf("update signing key %s: %w", k.ID, err)
	}
	return nil
}

// recordChange numbers the change and writes it with its keyset.changed
// event carrying the keyset as it now stands (after).
func recordChange(ctx context.Context, q pgdb.Querier, purpose, change, kid string, at time.Time, after []Key) (int64, error) {
	var version int64
	if err := q.QueryRow(ctx, `INSERT INTO keyset_changes (version, change, kid, changed_at)
		SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM keyset_changes RETURNING version`, change, kid, at).Scan(&version); err != nil {
		return 0, fmt.Errorf("record keyset change: %w", err)
	}
	ev := &eventsv1.KeysetChanged{Change: change, Kid: kid, ChangedAt: timestamppb.New(at), Purpose: purpose}
	for _, k := range after {
		spki, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			return 0, err
		}
		ev.Keys = append(ev.Keys, &eventsv1.KeysetKey{Kid: k.ID, Algorithm: k.Algorithm, State: string(k.State), SpkiDer: spki,
			NotBefore: optTS(k.NotBefore), RetiredAt: optTS(k.RetiredAt), NotAfter: optTS(k.NotAfter)})
	}
	payload, err := proto.Marshal(ev)
	if err != nil {
		return 0, err
	}
	return version, outbox.Write(ctx, q, events.Event{Subject: events.SubjectKeysetChanged, AggregateID: purpose, Sequence: version, Payload: payload})
}
