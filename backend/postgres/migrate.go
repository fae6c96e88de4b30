package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change, embedded in the binary.
type Migration struct {
	Version int
	Name    string
	sql     string
}

// MigrationStatus says whether one migration is applied to a schema.
type MigrationStatus struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt time.Time
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations lists the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, Migration{Version: v, Name: m[2], sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// validSchema checks a schema name: lower-case letters, digits and
// underscores, so that it needs no quoting and fits in channel names.
func validSchema(s string) error {
	if !schemaName.MatchString(s) {
		return fmt.Errorf("schema %q: must be 1-48 lower-case letters, digits or underscores, not starting with a digit", s)
	}
	return nil
}

// Migrate applies every embedded migration the schema lacks, each in the
// one transaction that records it in <schema>.taskmill_migrations. An
// advisory lock makes concurrent starts (several serve and worker
// processes) apply each migration once. The lock is the database's, not
// the schema's: installs under different schemas share the database's
// extensions, and two of them creating pg_trgm at once collide on
// PostgreSQL's catalog. It returns the versions it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	if err := validSchema(schema); err != nil {
		return nil, err
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var applied []int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('taskmill_migrate'))"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema+`;
			CREATE TABLE IF NOT EXISTS `+schema+`.taskmill_migrations (
				version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		done, err := appliedVersions(ctx, tx, schema)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if _, ok := done[m.Version]; ok {
				continue
			}
			if err := applyMigration(ctx, tx, schema, m); err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	return applied, nil
}

// applyMigration runs one migration, with the schema name put in, and
// records it.
func applyMigration(ctx context.Context, tx pgx.Tx, schema string, m Migration) error {
	sql := strings.ReplaceAll(m.sql, "{{S}}", schema)
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.taskmill_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return fmt.Errorf("record migration %04d: %w", m.Version, err)
	}
	return nil
}

func appliedVersions(ctx context.Context, q pgx.Tx, schema string) (map[int]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT version, applied_at FROM `+schema+`.taskmill_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		out[v] = at
	}
	return out, rows.Err()
}

// MigrationsStatus lists every embedded migration and whether the
// schema has it, without changing anything.
func MigrationsStatus(ctx context.Context, pool *pgxpool.Pool, schema string) ([]MigrationStatus, error) {
	if err := validSchema(schema); err != nil {
		return nil, err
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var done map[int]time.Time
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".taskmill_migrations").Scan(&exists); err != nil {
			return err
		}
		if !exists {
			done = map[int]time.Time{}
			return nil
		}
		done, err = appliedVersions(ctx, tx, schema)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migration status of schema %s: %w", schema, err)
	}
	out := make([]MigrationStatus, len(ms))
	for i, m := range ms {
		at, ok := done[m.Version]
		out[i] = MigrationStatus{Version: m.Version, Name: m.Name, Applied: ok, AppliedAt: at}
	}
	return out, nil
}

// DropSchema removes the backend's schema with every table in it, for
// benchmarks and tests that made a schema of their own. The backend is
// unusable afterwards.
func (b *Backend) DropSchema(ctx context.Context) error {
	// The background loop (fold, search indexer) may hold locks the
	// drop needs; a deadlock is retried.
	var err error
	for range 5 {
		if _, err = b.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+b.s+" CASCADE"); err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "40P01" {
			break
		}
	}
	return fmt.Errorf("drop schema %s: %w", b.s, err)
}
