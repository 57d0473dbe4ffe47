package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

// TestErrorClassification provokes each error from a real server and checks
// every classifier against it, bare and wrapped.
func TestErrorClassification(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	pool := open(t, url, "app")
	exec(t, pool, `CREATE TABLE parents (id int PRIMARY KEY);
		CREATE TABLE children (id int PRIMARY KEY, parent int NOT NULL REFERENCES parents, qty int CHECK (qty >= 0));
		CREATE TABLE counter (k int PRIMARY KEY, v int NOT NULL);
		INSERT INTO parents VALUES (1); INSERT INTO children VALUES (1, 1, 0); INSERT INTO counter VALUES (1, 0);`)
	ctx := t.Context()
	execErr := func(sql string) func(*testing.T) error {
		return func(*testing.T) error {
			_, err := pool.Exec(ctx, sql)
			return err
		}
	}
	classifiers := []struct {
		name string
		fn   func(error) bool
	}{
		{"unique", pgdb.IsUniqueViolation},
		{"foreign key", pgdb.IsForeignKeyViolation},
		{"check", pgdb.IsCheckViolation},
		{"retryable", pgdb.IsRetryable},
		{"no rows", pgdb.IsNoRows},
		{"unavailable", pgdb.IsUnavailable},
	}
	tests := []struct {
		name  string
		err   func(*testing.T) error
		wants []string
	}{
		{"nil", func(*testing.T) error { return nil }, nil},
		{"plain", func(*testing.T) error { return errors.New("boom") }, nil},
		{"canceled", func(*testing.T) error { return context.Canceled }, nil},
		{"unique violation", execErr("INSERT INTO parents VALUES (1)"), []string{"unique"}},
		{"foreign key violation", execErr("INSERT INTO children VALUES (2, 99, 0)"), []string{"foreign key"}},
		{"check violation", execErr("UPDATE children SET qty = -1"), []string{"check"}},
		{"syntax error", execErr("SELEC 1"), nil},
		{"no rows", func(*testing.T) error {
			var id int
			return pool.QueryRow(ctx, "SELECT id FROM parents WHERE id = 42").Scan(&id)
		}, []string{"no rows"}},
		{"serialization failure", func(t *testing.T) error {
			return pgx.BeginTxFunc(ctx, pool, serializable, func(tx pgx.Tx) error {
				var v int
				if err := tx.QueryRow(ctx, "SELECT v FROM counter WHERE k = 1").Scan(&v); err != nil {
					return err
				}
				if err := conflictingUpdate(ctx, pool); err != nil {
					t.Fatal(err)
				}
				_, err := tx.Exec(ctx, "UPDATE counter SET v = $1 WHERE k = 1", v+1)
				return err
			})
		}, []string{"retryable"}},
		{"server refuses the dial", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
			if err == nil {
				_ = conn.Close(ctx)
				t.Fatal("connected to a closed port")
			}
			return err
		}, []string{"unavailable"}},
		{"backend terminated", func(t *testing.T) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.WithoutCancel(ctx))
			// What a service sees when an administrator or a failover ends its session.
			_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}, []string{"unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			if (err == nil) != (tt.name == "nil") {
				t.Fatalf("provoked %v", err)
			}
			errs := []error{nil}
			if err != nil {
				errs = []error{err, fmt.Errorf("store: %w", err)}
			}
			for _, e := range errs {
				for _, c := range classifiers {
					if got, want := c.fn(e), slices.Contains(tt.wants, c.name); got != want {
						t.Errorf("%s(%v) = %v, want %v", c.name, e, got, want)
					}
				}
			}
		})
	}
}
