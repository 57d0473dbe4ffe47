package pgdb

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Source is one set of migrations: the service's own, or the tables a shared
// library (outbox, inbox) keeps in every schema that uses it.
type Source struct {
	Name string
	FS   fs.FS
}

type migration struct {
	id   string // source/file, as recorded in schema_migrations
	file string
	fsys fs.FS
}

// Migrate applies the *.sql files of each source (sources in order, files
// sorted by name) that the schema has not seen yet, each in its own
// transaction, recording them in <schema>.schema_migrations. A session
// advisory lock keyed by the schema lets many replicas start at once: one
// migrates, the others wait and find nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, sources ...Source) error {
	var all []migration
	for _, src := range sources {
		names, err := fs.Glob(src.FS, "*.sql")
		if err != nil {
			return fmt.Errorf("pgdb: list migrations of %s: %w", src.Name, err)
		}
		sort.Strings(names)
		for _, n := range names {
			all = append(all, migration{id: src.Name + "/" + n, file: n, fsys: src.FS})
		}
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgdb: migrate: %w", err)
	}
	defer conn.Release()

	lockKey := advisoryKey("migrate:" + schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("pgdb: migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey) //nolint:errcheck // released with the session anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("pgdb: migrations table: %w", err)
	}
	for _, m := range all {
		name := m.id
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)", name).Scan(&done); err != nil {
			return fmt.Errorf("pgdb: migration %s: %w", name, err)
		}
		if done {
			continue
		}
		body, err := fs.ReadFile(m.fsys, m.file)
		if err != nil {
			return fmt.Errorf("pgdb: read migration %s: %w", name, err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("pgdb: migration %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("pgdb: apply migration %s/%s: %w", schema, name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (name) VALUES ($1)", name); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("pgdb: record migration %s: %w", name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("pgdb: commit migration %s: %w", name, err)
		}
	}
	return nil
}

// advisoryKey maps a name to a stable bigint for pg_advisory_lock.
func advisoryKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.ToLower(name)))
	return int64(h.Sum64())
}

// AdvisoryKey exposes the same mapping for per-aggregate transaction locks
// (pg_advisory_xact_lock), so two writers of one workspace serialize.
func AdvisoryKey(name string) int64 { return advisoryKey(name) }
