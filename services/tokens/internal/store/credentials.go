package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/outbox"
	"github.com/cloudlicense/authority/pkg/pgdb"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/tokens/internal/domain"
)

// RegistrationToken returns one token.
func (s *Store) RegistrationToken(ctx context.Context, id string) (domain.RegistrationToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM registration_tokens WHERE id = $1`, id))
	if pgdb.IsNoRows(err) {
		return t, domain.ErrTokenNotFound
	}
	return t, err
}

// RegistrationTokens lists tokens, of one customer when customerID is set,
// newest first.
func (s *Store) RegistrationTokens(ctx context.Context, customerID string, limit int) ([]domain.RegistrationToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM registration_tokens
		WHERE ($1 = '' OR customer_id = $1) ORDER BY created_at DESC, id LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.RegistrationToken, error) { return scanToken(r) })
}

// credentialEventSeq is the next sequence of the workspace's credentials
// aggregate: one event per issue and per revocation.
func credentialEventSeq(ctx context.Context, tx pgx.Tx, workspaceID string) (int64, error) {
	// The aggregate's events are the issues (one per credential row) and the
	// revocations recorded in credential_revocations.
	var n int64
	err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM client_credentials WHERE workspace_id = $1)
		+ (SELECT count(*) FROM credential_revocations WHERE workspace_id = $1)`, workspaceID).Scan(&n)
	return n + 1, err
}

// issueCredentials stores a new client credential of workspaceID (the
// secret only as its hash) and records credentials.issued with the
// aggregate sequence seq, in tx. It returns the client id and the secret,
// which is shown once.
func issueCredentials(ctx context.Context, tx pgx.Tx, workspaceID, tokenID, clientName string, redirectURIs []string, seq int64) (clientID, secret string, err error) {
	clientID = domain.NewID("")
	secret = domain.NewSecret(domain.PrefixClientSecret)
	if redirectURIs == nil {
		redirectURIs = []string{}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO client_credentials (client_id, workspace_id, secret_hash, client_name, redirect_uris, scopes)
		VALUES ($1, $2, $3, $4, $5, $6)`, clientID, workspaceID, domain.Hash(secret), clientName, redirectURIs, domain.WorkspaceScopes); err != nil {
		return "", "", err
	}
	payload, err := proto.Marshal(&eventsv1.CredentialsIssued{WorkspaceId: workspaceID, ClientId: clientID, RegistrationTokenId: tokenID, IssuedAt: timestamppb.Now()})
	if err != nil {
		return "", "", err
	}
	if err := outbox.Write(ctx, tx, events.Event{Subject: events.SubjectCredentialsIssued, AggregateID: workspaceID, Sequence: seq, Payload: payload}); err != nil {
		return "", "", err
	}
	return clientID, secret, nil
}

// IssueWorkspaceCredentials issues credentials for a workspace that
// registered without a token, revoking any older ones, with
// credentials.issued in the same transaction. The workspace's row lock
// (an advisory transaction lock on its id) serialises two issues for one
// workspace, so their sequences cannot collide.
func (s *Store) IssueWorkspaceCredentials(ctx context.Context, workspaceID, clientName string, redirectURIs []string) (domain.Redemption, int32, error) {
	var r domain.Redemption
	var revoked int32
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('credentials:' || $1, 0))`, workspaceID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE client_credentials SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL`, workspaceID)
		if err != nil {
			return err
		}
		revoked = int32(tag.RowsAffected())
		seq, err := credentialEventSeq(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		r.ClientID, r.ClientSecret, err = issueCredentials(ctx, tx, workspaceID, "", clientName, redirectURIs, seq)
		return err
	})
	if err != nil {
		return domain.Redemption{}, 0, fmt.Errorf("issue workspace credentials: %w", err)
	}
	return r, revoked, nil
}

// RevokeWorkspaceCredentials revokes every live credential of a workspace
// with credentials.revoked in the same transaction; nothing to revoke
// writes nothing.
func (s *Store) RevokeWorkspaceCredentials(ctx context.Context, workspaceID string) (int32, error) {
	var revoked int32
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('credentials:' || $1, 0))`, workspaceID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE client_credentials SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL RETURNING client_id`, workspaceID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		revoked = int32(len(ids))
		if len(ids) == 0 {
			return nil
		}
		seq, err := credentialEventSeq(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO credential_revocations (workspace_id, client_ids) VALUES ($1, $2)`, workspaceID, ids); err != nil {
			return err
		}
		payload, err := proto.Marshal(&eventsv1.CredentialsRevoked{WorkspaceId: workspaceID, ClientIds: ids, RevokedAt: timestamppb.Now()})
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, events.Event{Subject: events.SubjectCredentialsRevoked, AggregateID: workspaceID, Sequence: seq, Payload: payload})
	})
	return revoked, err
}

// CredentialInfo is a credential's state without its secret.
type CredentialInfo struct {
	ClientID    string
	WorkspaceID string
	CreatedAt   time.Time
	FirstUsedAt *time.Time
	RevokedAt   *time.Time
}

// CredentialInfo returns the state of clientID's credential.
func (s *Store) CredentialInfo(ctx context.Context, clientID string) (CredentialInfo, error) {
	var c CredentialInfo
	err := s.pool.QueryRow(ctx, `SELECT client_id, workspace_id, created_at, first_used_at, revoked_at FROM client_credentials WHERE client_id = $1`,
		clientID).Scan(&c.ClientID, &c.WorkspaceID, &c.CreatedAt, &c.FirstUsedAt, &c.RevokedAt)
	if pgdb.IsNoRows(err) {
		return c, domain.ErrCredentialNotFound
	}
	return c, err
}

// MarkFirstUse records the first access token issued with clientID. Only
// the first call writes.
func (s *Store) MarkFirstUse(ctx context.Context, clientID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE client_credentials SET first_used_at = now() WHERE client_id = $1 AND first_used_at IS NULL`, clientID)
	return err
}
