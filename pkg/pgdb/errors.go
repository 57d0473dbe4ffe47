package pgdb

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres error codes the services react to; classified here once.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeCheckViolation       = "23514"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	// A text value the database cannot store: a NUL character, or bytes
	// that are not valid in its encoding.
	codeCharacterNotInRepertoire = "22021"
	codeUntranslatableCharacter  = "22P05"
)

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// IsUniqueViolation reports a unique constraint violation.
func IsUniqueViolation(err error) bool { return pgCode(err) == codeUniqueViolation }

// IsForeignKeyViolation reports a foreign key violation.
func IsForeignKeyViolation(err error) bool { return pgCode(err) == codeForeignKeyViolation }

// IsUnstorableText reports a text parameter the database refused to store
// (a NUL character or an invalid byte sequence): bad input, not an outage.
func IsUnstorableText(err error) bool {
	c := pgCode(err)
	return c == codeCharacterNotInRepertoire || c == codeUntranslatableCharacter
}

// IsCheckViolation reports a check constraint violation.
func IsCheckViolation(err error) bool { return pgCode(err) == codeCheckViolation }

// IsRetryable reports errors after which the whole transaction may be run again.
func IsRetryable(err error) bool {
	c := pgCode(err)
	return c == codeSerializationFailure || c == codeDeadlockDetected
}

// IsNoRows reports a query that matched no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// IsUnavailable reports errors that mean the database cannot be reached right
// now (as opposed to a bad query), so callers answer Unavailable and retry.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P0x: admin shutdown, crash shutdown, cannot connect now.
		return len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:4] == "57P0")
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnectError(err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
