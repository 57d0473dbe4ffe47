// Package store is the console's SQL over its own schema: accounts,
// organizations and their members, sessions, e-mailed links, failed
// sign-ins and the mail queue.
package store

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/services/console/internal/account"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the console's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Store reads and writes the console schema.
type Store struct {
	pool *pgxpool.Pool
	// Base is the console's public URL, which e-mailed links point at.
	Base string
}

// New returns a store over pool.
func New(pool *pgxpool.Pool, base string) *Store { return &Store{pool: pool, Base: base} }

func queue(ctx context.Context, tx pgx.Tx, m mail.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO mail_queue (message_id, to_addr, subject, body) VALUES ($1, $2, $3, $4)`, m.ID, m.To, m.Subject, m.Body)
	return err
}

func mailID() string { return account.NewID("") + "@console.licensing" }

func newToken(ctx context.Context, tx pgx.Tx, accountID, purpose string) (string, error) {
	tok := account.NewSecret("et_")
	_, err := tx.Exec(ctx, `INSERT INTO email_tokens (token_hash, account_id, purpose, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		account.HashSecret(tok), accountID, purpose, account.TokenTTL[purpose].String())
	return tok, err
}

const accountColumns = `id, email, coalesce(password_hash, ''), org_name, verified_at IS NOT NULL`

func scanAccount(row pgx.Row) (account.Account, error) {
	var a account.Account
	err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.OrgName, &a.Verified)
	if pgdb.IsNoRows(err) {
		return a, account.ErrNotFound
	}
	return a, err
}

// SignUp records a sign-up and queues its mail in the same transaction: a
// verification link for a new (or still unverified) address, a notice for
// an address that already has an account, whose password is left alone.
func (s *Store) SignUp(ctx context.Context, su account.SignUp, passwordHash string) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(email) = $1 FOR UPDATE`, su.Email))
		switch {
		case errors.Is(err, account.ErrNotFound):
			a = account.Account{ID: account.NewID("acc_"), Email: su.Email}
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, email, password_hash, org_name) VALUES ($1, $2, $3, $4)`, a.ID, su.Email, passwordHash, su.OrgName); err != nil {
				return err
			}
		case err != nil:
			return err
		case a.Verified || a.PasswordHash == "":
			// Verified, or invited by an organization: the owner signs in
			// or resets the password.
			return queue(ctx, tx, account.AlreadyRegisteredMail(mailID(), a.Email, s.Base))
		}
		tok, err := newToken(ctx, tx, a.ID, account.PurposeVerify)
		if err != nil {
			return err
		}
		return queue(ctx, tx, account.VerifyMail(mailID(), a.Email, s.Base, tok))
	})
}

// checkToken returns the account of an unused, unexpired link.
func checkToken(ctx context.Context, q pgdb.Querier, token, purpose string, lock bool) (account.Account, error) {
	var used, expired bool
	var accountID string
	sql := `SELECT account_id, used_at IS NOT NULL, expires_at <= now() FROM email_tokens WHERE token_hash = $1 AND purpose = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, account.HashSecret(token), purpose).Scan(&accountID, &used, &expired)
	switch {
	case pgdb.IsNoRows(err):
		return account.Account{}, account.ErrNotFound
	case err != nil:
		return account.Account{}, err
	case used:
		return account.Account{}, account.ErrTokenUsed
	case expired:
		return account.Account{}, account.ErrTokenExpired
	}
	return scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, accountID))
}

// CheckToken returns the account of a link without using it.
func (s *Store) CheckToken(ctx context.Context, token, purpose string) (account.Account, error) {
	return checkToken(ctx, s.pool, token, purpose, false)
}

// Verify uses a verification link: the account is verified and becomes
// the owner of a new organization for the registry customer customerID.
func (s *Store) Verify(ctx context.Context, token, customerID string) (account.Organization, error) {
	var org account.Organization
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := checkToken(ctx, tx, token, account.PurposeVerify, true)
		if err != nil {
			return err
		}
		org = account.Organization{ID: account.NewID("org_"), CustomerID: customerID, Name: a.OrgName, Role: "owner"}
		if _, err := tx.Exec(ctx, `UPDATE email_tokens SET used_at = now() WHERE token_hash = $1`, account.HashSecret(token)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET verified_at = now() WHERE id = $1`, a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, customer_id, name) VALUES ($1, $2, $3)`, org.ID, customerID, org.Name); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO members (organization_id, account_id, role) VALUES ($1, $2, 'owner')`, org.ID, a.ID)
		return err
	})
	return org, err
}

// AccountByEmail returns the account of an address.
func (s *Store) AccountByEmail(ctx context.Context, email string) (account.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(email) = lower($1)`, email))
}

// SignInFailures counts the failed sign-ins of each key within window.
func (s *Store) SignInFailures(ctx context.Context, window time.Duration, keys ...string) ([]int, error) {
	counts := make([]int, len(keys))
	for i, k := range keys {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM signin_failures WHERE key = $1 AND at > now() - $2::interval`, k, window.String()).Scan(&counts[i]); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

// RecordSignInFailure counts a failed sign-in against every key and drops
// the keys' failures older than window.
func (s *Store) RecordSignInFailure(ctx context.Context, window time.Duration, keys ...string) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `DELETE FROM signin_failures WHERE key = $1 AND at <= now() - $2::interval`, k, window.String()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO signin_failures (key) VALUES ($1)`, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClearSignInFailures forgets a key's failures (after a good sign-in).
func (s *Store) ClearSignInFailures(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM signin_failures WHERE key = $1`, key)
	return err
}

// CreateSession starts a session and returns its secret (the cookie).
func (s *Store) CreateSession(ctx context.Context, accountID string, ttl time.Duration) (string, error) {
	secret := account.NewSecret("ses_")
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, account_id, expires_at) VALUES ($1, $2, now() + $3::interval)`,
		account.HashSecret(secret), accountID, ttl.String())
	return secret, err
}

// Session returns the signed-in account of a live session and its
// organization (the first it joined; none before verification).
func (s *Store) Session(ctx context.Context, secret string) (account.Account, *account.Organization, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE id = (SELECT account_id FROM sessions WHERE id_hash = $1 AND expires_at > now())`, account.HashSecret(secret)))
	if err != nil {
		return a, nil, err
	}
	var o account.Organization
	err = s.pool.QueryRow(ctx, `SELECT o.id, o.customer_id, o.name, m.role FROM members m JOIN organizations o ON o.id = m.organization_id
		WHERE m.account_id = $1 ORDER BY m.created_at, o.id LIMIT 1`, a.ID).Scan(&o.ID, &o.CustomerID, &o.Name, &o.Role)
	if pgdb.IsNoRows(err) {
		return a, nil, nil
	}
	if err != nil {
		return a, nil, err
	}
	return a, &o, nil
}

// DeleteSession ends a session, and expired ones with it.
func (s *Store) DeleteSession(ctx context.Context, secret string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1 OR expires_at < now()`, account.HashSecret(secret))
	return err
}

// RequestReset queues a password-reset link for an account that has a
// verified address or an invitation, and a verification link for a
// sign-up still waiting for one. An unknown address queues nothing; the
// page says the same either way.
func (s *Store) RequestReset(ctx context.Context, email string) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(email) = $1 FOR UPDATE`, email))
		if errors.Is(err, account.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !a.Verified && a.PasswordHash != "" {
			tok, err := newToken(ctx, tx, a.ID, account.PurposeVerify)
			if err != nil {
				return err
			}
			return queue(ctx, tx, account.VerifyMail(mailID(), a.Email, s.Base, tok))
		}
		tok, err := newToken(ctx, tx, a.ID, account.PurposeReset)
		if err != nil {
			return err
		}
		return queue(ctx, tx, account.ResetMail(mailID(), a.Email, s.Base, tok))
	})
}

// Reset uses a reset link: the new password is set, the address counts as
// verified (the link proved it), and every session of the account ends.
func (s *Store) Reset(ctx context.Context, token, passwordHash string) (account.Account, error) {
	var a account.Account
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if a, err = checkToken(ctx, tx, token, account.PurposeReset, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE email_tokens SET used_at = now() WHERE token_hash = $1`, account.HashSecret(token)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2, verified_at = coalesce(verified_at, now()) WHERE id = $1`, a.ID, passwordHash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE account_id = $1`, a.ID)
		return err
	})
	return a, err
}

// Members lists an organization's members.
func (s *Store) Members(ctx context.Context, orgID string) ([]account.Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.email, m.role, a.verified_at IS NOT NULL FROM members m JOIN accounts a ON a.id = m.account_id
		WHERE m.organization_id = $1 ORDER BY m.created_at, a.email`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Member, error) {
		var m account.Member
		return m, r.Scan(&m.Email, &m.Role, &m.Verified)
	})
}

// AddMember adds the person of an address to an organization: an existing
// account joins and is told; a new address gets an account without a
// password and an invitation to choose one. ErrExists when already a member.
func (s *Store) AddMember(ctx context.Context, org account.Organization, email string) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(email) = $1 FOR UPDATE`, email))
		isNew := errors.Is(err, account.ErrNotFound)
		if isNew {
			a = account.Account{ID: account.NewID("acc_"), Email: email}
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, email) VALUES ($1, $2)`, a.ID, email); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO members (organization_id, account_id, role) VALUES ($1, $2, 'member') ON CONFLICT DO NOTHING`, org.ID, a.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return account.ErrExists
		}
		if !isNew && a.PasswordHash != "" {
			return queue(ctx, tx, account.AddedMail(mailID(), a.Email, s.Base, org.Name))
		}
		tok, err := newToken(ctx, tx, a.ID, account.PurposeReset)
		if err != nil {
			return err
		}
		return queue(ctx, tx, account.InviteMail(mailID(), a.Email, s.Base, tok, org.Name))
	})
}

// SendNextMail sends the oldest mail that is due, if any, through send, and
// records the outcome in the transaction that holds its row, so two
// senders never send the same mail. It reports whether a mail was due.
func (s *Store) SendNextMail(ctx context.Context, send func(mail.Message) error) (bool, error) {
	due := false
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		var m mail.Message
		var attempts int
		err := tx.QueryRow(ctx, `SELECT id, message_id, to_addr, subject, coalesce(body, ''), attempts FROM mail_queue
			WHERE sent_at IS NULL AND next_attempt_at <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&id, &m.ID, &m.To, &m.Subject, &m.Body, &attempts)
		if pgdb.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		due = true
		if err := send(m); err != nil {
			// Back off up to an hour between attempts.
			delay := min(time.Duration(1<<min(attempts, 12))*time.Second, time.Hour)
			_, uerr := tx.Exec(ctx, `UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = now() + $2::interval, last_error = $3 WHERE id = $1`,
				id, delay.String(), err.Error())
			return uerr
		}
		_, err = tx.Exec(ctx, `UPDATE mail_queue SET sent_at = now(), body = NULL, attempts = attempts + 1, last_error = '' WHERE id = $1`, id)
		return err
	})
	return due, err
}
