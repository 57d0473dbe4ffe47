// Package signertest gives the signer's tests their real dependencies: a
// fresh Postgres database migrated like production, and a license key.
package signertest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/keyset"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// Schema is the signer's schema name, as app.Start names it.
const Schema = "signer"

// NewPool returns a pool on a fresh database holding the signer schema with
// the same migrations a running signer applies.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), Schema, 20)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped
	if err := pgdb.Migrate(ctx, pool, Schema,
		pgdb.Source{Name: "outbox", FS: outbox.Migrations()},
		pgdb.Source{Name: "inbox", FS: events.InboxMigrations()},
		keyset.Migrations(),
		pgdb.Source{Name: Schema, FS: store.Migrations()},
	); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// Keys is a keys.Manager holding one key.
type Keys struct{ Key keys.Key }

// Active implements keys.Manager.
func (k Keys) Active(context.Context) (keys.Key, error) { return k.Key, nil }

// PublicKeys implements keys.Manager.
func (k Keys) PublicKeys(context.Context) ([]keys.PublicKey, error) {
	return []keys.PublicKey{{ID: k.Key.ID, Algorithm: k.Key.Algorithm, Key: k.Key.Public()}}, nil
}

// generated is one key per test binary: RSA generation is slow, and no test
// depends on the key being its own.
var generated = sync.OnceValues(func() (keys.Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keys.MinRSABits)
	if err != nil {
		return keys.Key{}, err
	}
	return keys.NewKey(priv)
})

// NewKeys returns a manager of a throwaway license key.
func NewKeys(t testing.TB) Keys {
	t.Helper()
	k, err := generated()
	if err != nil {
		t.Fatalf("license key: %v", err)
	}
	return Keys{Key: k}
}

// KeyFor returns a jws.KeyFunc that knows only this key's kid, as a verifier
// holding the published key set would.
func (k Keys) KeyFor() jws.KeyFunc {
	return func(kid string) (*rsa.PublicKey, error) {
		if kid != k.Key.ID {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k.Key.Public(), nil
	}
}

// Payload returns the unverified header and JSON payload of a license, for
// tests that look at claims the document type has no field for.
func Payload(t testing.TB, lic string) (jws.Header, map[string]json.RawMessage) {
	t.Helper()
	h, payload, err := jws.ParseUnverified(strings.TrimPrefix(lic, license.Prefix))
	if err != nil {
		t.Fatalf("parse license: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("license payload: %v", err)
	}
	return h, m
}
