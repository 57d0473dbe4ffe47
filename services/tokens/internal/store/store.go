// Package store is the token service's SQL over its own schema.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the token service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Store reads and writes the tokens schema.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const tokenColumns = `id, customer_id, plan_id, max_uses, uses, expires_at, created_at, revoked_at`

// scanToken scans tokenColumns and then any extra columns into extra.
func scanToken(row pgx.Row, extra ...any) (domain.RegistrationToken, error) {
	var t domain.RegistrationToken
	err := row.Scan(append([]any{&t.ID, &t.CustomerID, &t.PlanID, &t.MaxUses, &t.Uses, &t.ExpiresAt, &t.CreatedAt, &t.RevokedAt}, extra...)...)
	return t, err
}

// CreateRegistrationToken stores a new token and returns it with its secret.
func (s *Store) CreateRegistrationToken(ctx context.Context, customerID, planID string, maxUses int32, ttl time.Duration) (domain.RegistrationToken, string, error) {
	secret := domain.NewSecret(domain.PrefixRegistrationToken)
	t, err := scanToken(s.pool.QueryRow(ctx, `INSERT INTO registration_tokens (id, secret_hash, customer_id, plan_id, max_uses, expires_at)
		VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING `+tokenColumns,
		domain.NewID("rtk_"), domain.Hash(secret), customerID, planID, maxUses, ttl.Seconds()))
	if err != nil {
		return domain.RegistrationToken{}, "", fmt.Errorf("create registration token: %w", err)
	}
	return t, secret, nil
}

// RevokeRegistrationToken marks a token revoked (idempotent).
func (s *Store) RevokeRegistrationToken(ctx context.Context, id string) (domain.RegistrationToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `UPDATE registration_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 RETURNING `+tokenColumns, id))
	if pgdb.IsNoRows(err) {
		return t, domain.ErrTokenNotFound
	}
	return t, err
}

// Redeem takes one use of the token whose secret is given, for workspaceID,
// and issues the workspace's client credentials, all in one transaction with
// the credentials.issued event.
//
// The use is taken last, by a conditional UPDATE: racing redemptions of the
// last use serialise on the token's row, and the loser re-reads it after the
// winner commits and finds it used up. Taking the row lock last keeps it for
// as short as possible (the commit), so a multi-use token that many
// workspaces redeem at once (an operator rolling out a fleet) does not make
// them queue behind each other's whole transactions.
func (s *Store) Redeem(ctx context.Context, secret, workspaceID, clientName string, redirectURIs []string) (domain.Redemption, error) {
	var r domain.Redemption
	hash := domain.Hash(secret)
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The database's clock decides expiry, here as in the UPDATE below,
		// so a skewed application clock cannot tell the two apart.
		var now time.Time
		t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+`, now() FROM registration_tokens WHERE secret_hash = $1`, hash), &now)
		if pgdb.IsNoRows(err) {
			return domain.ErrTokenUnknown
		}
		if err != nil {
			return err
		}
		if why := t.Why(now); why != nil {
			return why
		}
		r.TokenID, r.CustomerID, r.PlanID = t.ID, t.CustomerID, t.PlanID
		if _, err := tx.Exec(ctx, `INSERT INTO redemptions (workspace_id, token_id) VALUES ($1, $2)`, workspaceID, r.TokenID); err != nil {
			if pgdb.IsUniqueViolation(err) {
				return domain.ErrAlreadyRedeemed
			}
			return err
		}
		// A redeeming workspace is new: its credentials' first event.
		if r.ClientID, r.ClientSecret, err = issueCredentials(ctx, tx, workspaceID, r.TokenID, clientName, redirectURIs, 1); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE registration_tokens SET uses = uses + 1
			WHERE id = $1 AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses`, r.TokenID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// Changed since the first read: used up by a racing redemption,
			// or revoked or expired meanwhile.
			t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+`, now() FROM registration_tokens WHERE id = $1`, r.TokenID), &now)
			if err != nil {
				return err
			}
			if why := t.Why(now); why != nil {
				return why
			}
			return domain.ErrTokenUsedUp
		}
		return nil
	})
	return r, err
}

// ReleaseRedemption gives the token use back and revokes the credentials of
// a workspace whose creation failed after the redemption. Idempotent.
func (s *Store) ReleaseRedemption(ctx context.Context, workspaceID string) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var tokenID string
		err := tx.QueryRow(ctx, `UPDATE redemptions SET released_at = now() WHERE workspace_id = $1 AND released_at IS NULL
			RETURNING token_id`, workspaceID).Scan(&tokenID)
		if pgdb.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE registration_tokens SET uses = uses - 1 WHERE id = $1 AND uses > 0`, tokenID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE client_credentials SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL`, workspaceID)
		return err
	})
}

// Credential is a workspace's stored client credential.
type Credential struct {
	ClientID    string
	WorkspaceID string
	SecretHash  string
	Scopes      []string
	Revoked     bool
	// FirstUsed says an access token was issued with it before.
	FirstUsed bool
}

// Credential returns the credential of clientID.
func (s *Store) Credential(ctx context.Context, clientID string) (Credential, error) {
	var c Credential
	var revokedAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT client_id, workspace_id, secret_hash, scopes, revoked_at, first_used_at IS NOT NULL FROM client_credentials WHERE client_id = $1`,
		clientID).Scan(&c.ClientID, &c.WorkspaceID, &c.SecretHash, &c.Scopes, &revokedAt, &c.FirstUsed)
	if pgdb.IsNoRows(err) {
		return c, domain.ErrInvalidCredentials
	}
	c.Revoked = revokedAt != nil
	return c, err
}

// EnsureAPIKey stores key under id with role, replacing an older secret: the
// bootstrap admin key of a deployment is configuration, so it may change.
func (s *Store) EnsureAPIKey(ctx context.Context, id, name, role, key string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, role, secret_hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, role = excluded.role, revoked_at = NULL`,
		id, name, role, domain.Hash(key))
	return err
}

// CreateAPIKey stores a new key and returns it with its secret.
func (s *Store) CreateAPIKey(ctx context.Context, name, role string) (domain.APIKey, string, error) {
	key := domain.NewSecret(domain.PrefixAPIKey)
	k := domain.APIKey{ID: domain.NewID("key_"), Name: name, Role: role}
	if err := s.EnsureAPIKey(ctx, k.ID, name, role, key); err != nil {
		return k, "", err
	}
	return k, key, nil
}

// APIKeyByHash returns the live key with the given secret hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (domain.APIKey, error) {
	var k domain.APIKey
	err := s.pool.QueryRow(ctx, `SELECT id, name, role FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`, hash).Scan(&k.ID, &k.Name, &k.Role)
	if pgdb.IsNoRows(err) {
		return k, domain.ErrInvalidAPIKey
	}
	if err != nil {
		return k, errors.Join(errors.New("look up API key"), err)
	}
	return k, nil
}
