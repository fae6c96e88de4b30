package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// QueuedEnqueues is how many Enqueue calls wait for a flusher, for the
// test of a caller that leaves while it waits.
func QueuedEnqueues(b *Backend) int { return b.enq.Len() }

// MigrateTo applies the embedded migrations up to version to, as an
// install made by an older build has them.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, to int) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+schema+`;
			CREATE TABLE `+schema+`.taskmill_migrations (
				version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Version <= to {
				if err := applyMigration(ctx, tx, schema, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
