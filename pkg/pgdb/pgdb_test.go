package pgdb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

func TestOpenRejectsBadSchemaNames(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{"", "App", "1app", "app-x", "app;DROP TABLE x", "a b", strings.Repeat("a", 64), "é"} {
		// The name is checked before connecting, so no server is needed.
		if pool, err := pgdb.Open(t.Context(), "postgres://nowhere.invalid/db", schema, 1); err == nil {
			pool.Close()
			t.Errorf("Open accepted schema %q", schema)
		}
	}
}

func TestOpenUnreachableHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := pgdb.Open(t.Context(), "postgres://postgres:hunter2@127.0.0.1:1/licensing?sslmode=disable&connect_timeout=5", "app", 1)
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
	if !pgdb.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false", err)
	}
}

func TestSchemaIsolation(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	alpha := open(t, url, "alpha")
	beta := open(t, url, "beta")
	ctx := t.Context()

	exec(t, alpha, "CREATE TABLE things (name text)")
	exec(t, alpha, "INSERT INTO things VALUES ('from alpha')")
	if _, err := beta.Exec(ctx, "SELECT * FROM things"); err == nil || !strings.Contains(err.Error(), "42P01") {
		t.Fatalf("beta sees alpha's table: %v", err)
	}
	// Each schema may hold a table of the same name.
	exec(t, beta, "CREATE TABLE things (name text)")
	if n := count(t, beta, "SELECT count(*) FROM things"); n != 0 {
		t.Errorf("beta.things has %d rows, want 0", n)
	}
	var schema string
	if err := alpha.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil || schema != "alpha" {
		t.Errorf("current_schema = %q, %v", schema, err)
	}
	if n := count(t, alpha, "SELECT count(*) FROM pg_tables WHERE tablename = 'things' AND schemaname IN ('alpha', 'beta')"); n != 2 {
		t.Errorf("found %d tables named things, want 2", n)
	}
	// Opening again finds the schema in place.
	again := open(t, url, "alpha")
	if n := count(t, again, "SELECT count(*) FROM things"); n != 1 {
		t.Errorf("alpha.things has %d rows after reopening, want 1", n)
	}
}

var serializable = pgx.TxOptions{IsoLevel: pgx.Serializable}

// conflictingUpdate runs a second serializable transaction that changes the
// counter and commits, so a transaction that read the counter before it can
// no longer update it.
func conflictingUpdate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgdb.InTxOptions(ctx, pool, serializable, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE counter SET v = v + 10 WHERE k = 1")
		return err
	})
}

func newCounter(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := newPool(t)
	exec(t, pool, "CREATE TABLE counter (k int PRIMARY KEY, v int NOT NULL)")
	exec(t, pool, "INSERT INTO counter VALUES (1, 0)")
	return pool
}

// increment reads the counter and writes it back plus one, letting
// interfere run between the two on the attempts it chooses.
func increment(ctx context.Context, pool *pgxpool.Pool, attempts *int, interfere func(attempt int) bool) error {
	return pgdb.InTxOptions(ctx, pool, serializable, func(tx pgx.Tx) error {
		*attempts++
		var v int
		if err := tx.QueryRow(ctx, "SELECT v FROM counter WHERE k = 1").Scan(&v); err != nil {
			return err
		}
		if interfere(*attempts) {
			if err := conflictingUpdate(ctx, pool); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE counter SET v = $1 WHERE k = 1", v+1)
		return err
	})
}

func TestInTxRetriesSerializationFailure(t *testing.T) {
	t.Parallel()
	pool := newCounter(t)
	attempts := 0
	if err := increment(t.Context(), pool, &attempts, func(n int) bool { return n == 1 }); err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
	// The retry saw the other transaction's update: no lost update.
	if v := count(t, pool, "SELECT v FROM counter WHERE k = 1"); v != 11 {
		t.Errorf("counter = %d, want 11", v)
	}
}

func TestInTxGivesUpAfterFiveAttempts(t *testing.T) {
	t.Parallel()
	pool := newCounter(t)
	attempts := 0
	err := increment(t.Context(), pool, &attempts, func(int) bool { return true })
	if !pgdb.IsRetryable(err) {
		t.Fatalf("InTx = %v, want the serialization failure", err)
	}
	if attempts != 5 {
		t.Errorf("attempts = %d, want 5", attempts)
	}
	if v := count(t, pool, "SELECT v FROM counter WHERE k = 1"); v != 50 {
		t.Errorf("counter = %d, want 50 (only the conflicting updates)", v)
	}
}

func TestInTxStopsRetryingWhenContextEnds(t *testing.T) {
	t.Parallel()
	pool := newCounter(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	attempts := 0
	err := pgdb.InTxOptions(ctx, pool, serializable, func(tx pgx.Tx) error {
		attempts++
		var v int
		if err := tx.QueryRow(ctx, "SELECT v FROM counter WHERE k = 1").Scan(&v); err != nil {
			return err
		}
		if err := conflictingUpdate(ctx, pool); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE counter SET v = $1 WHERE k = 1", v+1)
		cancel() // the caller gives up while the transaction fails
		return err
	})
	if !pgdb.IsRetryable(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx = %v, want the serialization failure and context.Canceled", err)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
}

func TestInTxDoesNotRetryOtherErrors(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	exec(t, pool, "CREATE TABLE items (id int PRIMARY KEY, qty int CHECK (qty >= 0))")
	exec(t, pool, "INSERT INTO items VALUES (1, 1)")
	errApp := errors.New("application says no")
	tests := []struct {
		name  string
		fn    func(ctx context.Context, tx pgx.Tx) error
		check func(error) bool
	}{
		{"application error", func(context.Context, pgx.Tx) error { return errApp }, func(err error) bool { return errors.Is(err, errApp) }},
		{"unique violation", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO items VALUES (1, 5)")
			return err
		}, pgdb.IsUniqueViolation},
		{"check violation", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "UPDATE items SET qty = -1 WHERE id = 1")
			return err
		}, pgdb.IsCheckViolation},
		{"no rows", func(ctx context.Context, tx pgx.Tx) error {
			var q int
			return tx.QueryRow(ctx, "SELECT qty FROM items WHERE id = 42").Scan(&q)
		}, pgdb.IsNoRows},
		{"syntax error", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELEC 1")
			return err
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "42601") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			attempts := 0
			marker := strings.ReplaceAll(tt.name, " ", "_")
			err := pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
				attempts++
				// An effect before the failure, which must roll back.
				if _, err := tx.Exec(ctx, "CREATE TABLE "+marker+" (x int)"); err != nil {
					return err
				}
				return tt.fn(ctx, tx)
			})
			if !tt.check(err) {
				t.Errorf("InTx = %v", err)
			}
			if attempts != 1 {
				t.Errorf("attempts = %d, want 1", attempts)
			}
			if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = $1", marker); n != 0 {
				t.Error("the effect before the error was committed")
			}
		})
	}
}

func TestInTxCommits(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	exec(t, pool, "CREATE TABLE notes (body text)")
	if err := pgdb.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), "INSERT INTO notes VALUES ('kept')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM notes WHERE body = 'kept'"); n != 1 {
		t.Errorf("notes = %d, want 1", n)
	}
}

func TestAdvisoryKey(t *testing.T) {
	t.Parallel()
	if pgdb.AdvisoryKey("workspace:W1") != pgdb.AdvisoryKey("workspace:w1") {
		t.Error("AdvisoryKey is case-sensitive")
	}
	if pgdb.AdvisoryKey("workspace:a") == pgdb.AdvisoryKey("workspace:b") {
		t.Error("AdvisoryKey collides on different names")
	}
	if pgdb.AdvisoryKey("x") != pgdb.AdvisoryKey("x") {
		t.Error("AdvisoryKey is not stable")
	}
}
