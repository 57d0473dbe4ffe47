package pgdb_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

func sqlFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// appSource creates a table and then inserts one row into it: a file applied
// twice would fail on the CREATE or leave two rows.
var appSource = pgdb.Source{Name: "app", FS: sqlFS(map[string]string{
	"0001_runs.sql":  "CREATE TABLE runs (id bigserial PRIMARY KEY, note text NOT NULL);",
	"0002_seed.sql":  "INSERT INTO runs (note) VALUES ('seed');",
	"0010_index.sql": "CREATE INDEX runs_note ON runs (note);",
	"README.md":      "not a migration",
})}

func applied(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT name FROM schema_migrations ORDER BY applied_at, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// lockFree reports whether the schema's migration lock is free, from a session
// of its own.
func lockFree(t *testing.T, pool *pgxpool.Pool, schema string) bool {
	t.Helper()
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var got bool
	key := pgdb.AdvisoryKey("migrate:" + schema)
	if err := conn.QueryRow(t.Context(), "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got {
		if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_unlock($1)", key); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	// Four replicas start at once, each with a pool of its own.
	pools := make([]*pgxpool.Pool, 4)
	for i := range pools {
		pools[i] = open(t, url, "app")
	}
	var g errgroup.Group
	for _, p := range pools {
		g.Go(func() error { return pgdb.Migrate(t.Context(), p, "app", appSource) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n := count(t, pools[0], "SELECT count(*) FROM runs"); n != 1 {
		t.Errorf("seed ran %d times, want once", n)
	}
	want := []string{"app/0001_runs.sql", "app/0002_seed.sql", "app/0010_index.sql"}
	if got := applied(t, pools[0]); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
	if !lockFree(t, pools[0], "app") {
		t.Error("the migration lock is still held")
	}
}

func TestMigrateIsIncremental(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := t.Context()
	if err := pgdb.Migrate(ctx, pool, "app", appSource); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(ctx, pool, "app", appSource); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	// A later release adds a file: only it runs.
	next := sqlFS(map[string]string{"0011_more.sql": "INSERT INTO runs (note) VALUES ('v2');"})
	for name, f := range appSource.FS.(fstest.MapFS) {
		next[name] = f
	}
	if err := pgdb.Migrate(ctx, pool, "app", pgdb.Source{Name: "app", FS: next}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM runs"); n != 2 {
		t.Errorf("runs = %d, want 2 (seed once, v2 once)", n)
	}
	if got := applied(t, pool); len(got) != 4 || got[3] != "app/0011_more.sql" {
		t.Errorf("schema_migrations = %v", got)
	}
}

func TestMigrateSourcesInOrder(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	// Both sources have a 0001.sql; the second refers to the first's table,
	// so it only applies when the sources run in the order given.
	lib := pgdb.Source{Name: "lib", FS: sqlFS(map[string]string{"0001.sql": "CREATE TABLE parents (id int PRIMARY KEY);"})}
	svc := pgdb.Source{Name: "svc", FS: sqlFS(map[string]string{
		"0001.sql": "CREATE TABLE children (id int PRIMARY KEY, parent int REFERENCES parents);",
		"0002.sql": "ALTER TABLE children ADD COLUMN name text;",
	})}
	if err := pgdb.Migrate(t.Context(), pool, "app", lib, svc); err != nil {
		t.Fatal(err)
	}
	want := []string{"lib/0001.sql", "svc/0001.sql", "svc/0002.sql"}
	if got := applied(t, pool); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := t.Context()
	broken := pgdb.Source{Name: "app", FS: sqlFS(map[string]string{
		"0001_ok.sql":     "CREATE TABLE first (id int);",
		"0002_broken.sql": "CREATE TABLE half (id int);\nINSERT INTO missing VALUES (1);",
		"0003_later.sql":  "CREATE TABLE later (id int);",
	})}
	err := pgdb.Migrate(ctx, pool, "app", broken)
	if err == nil {
		t.Fatal("Migrate succeeded with a broken file")
	}
	if !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Errorf("error %q does not name the file", err)
	}
	tables := func() string {
		var names string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '')
			FROM pg_tables WHERE schemaname = 'app' AND tablename <> 'schema_migrations'`).Scan(&names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	// The broken file left nothing behind, and nothing after it ran.
	if got := tables(); got != "first" {
		t.Errorf("tables = %q, want only first", got)
	}
	if got := applied(t, pool); strings.Join(got, " ") != "app/0001_ok.sql" {
		t.Errorf("schema_migrations = %v", got)
	}
	if !lockFree(t, pool, "app") {
		t.Error("the migration lock is still held after a failure")
	}

	fixed := sqlFS(map[string]string{"0002_broken.sql": "CREATE TABLE half (id int);"})
	for _, name := range []string{"0001_ok.sql", "0003_later.sql"} {
		fixed[name] = broken.FS.(fstest.MapFS)[name]
	}
	if err := pgdb.Migrate(ctx, pool, "app", pgdb.Source{Name: "app", FS: fixed}); err != nil {
		t.Fatalf("Migrate after the fix: %v", err)
	}
	if got := tables(); got != "first,half,later" {
		t.Errorf("tables = %q after the fix", got)
	}
}

func TestMigrateSchemasAreIndependent(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	a, b := open(t, url, "svc_a"), open(t, url, "svc_b")
	var g errgroup.Group
	g.Go(func() error { return pgdb.Migrate(t.Context(), a, "svc_a", appSource) })
	g.Go(func() error { return pgdb.Migrate(t.Context(), b, "svc_b", appSource) })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*pgxpool.Pool{a, b} {
		if n := count(t, p, "SELECT count(*) FROM runs"); n != 1 {
			t.Errorf("runs = %d, want 1 in each schema", n)
		}
	}
}

func TestMigrateWaitsForTheLock(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := t.Context()
	// Another replica holds the lock: Migrate waits rather than racing it.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	key := pgdb.AdvisoryKey("migrate:app")
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pgdb.Migrate(waitCtx, pool, "app", appSource) }()
	// Until the holder lets go, nothing is applied; a Migrate that gives up
	// reports why.
	eventually(t, "Migrate to wait on the lock", func() bool {
		return count(t, pool, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == 1
	})
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "lock") {
		t.Errorf("Migrate = %v, want a lock error", err)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'app' AND tablename = 'runs'"); n != 0 {
		t.Error("Migrate applied files without the lock")
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(ctx, pool, "app", appSource); err != nil {
		t.Fatal(err)
	}
}
