package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// Now returns the database's clock: the time every stored time comes from.
func (b *Backend) Now(ctx context.Context) (time.Time, error) {
	if err := b.alive(); err != nil {
		return time.Time{}, err
	}
	var now time.Time
	if err := b.pool.QueryRow(ctx, `SELECT `+b.t("clock()")).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("now: %w", err)
	}
	return now.UTC(), nil
}

// Lead acquires, renews or reports upkeep leadership, in one statement
// on the schema's leader row; see backend.Backend.
func (b *Backend) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	if err := b.alive(); err != nil {
		return backend.Leadership{}, err
	}
	if holder == "" || ttl <= 0 {
		return backend.Leadership{}, fmt.Errorf("lead: holder %q, ttl %s: %w", holder, ttl, backend.ErrInvalid)
	}
	clock := b.t("clock()")
	var l backend.Leadership
	err := b.pool.QueryRow(ctx, `INSERT INTO `+b.t("leader")+` AS l (holder, term, until) VALUES ($1, 1, `+clock+` + $2::interval)
		ON CONFLICT (one) DO UPDATE SET holder = $1, until = `+clock+` + $2::interval,
			term = CASE WHEN l.holder = $1 AND l.until > `+clock+` THEN l.term ELSE l.term + 1 END
		WHERE l.holder = $1 OR l.holder = '' OR l.until <= `+clock+`
		RETURNING holder, term, until`, holder, ttl).Scan(&l.Holder, &l.Term, &l.Until)
	if err == nil {
		l.Held, l.Until = true, l.Until.UTC()
		return l, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return backend.Leadership{}, fmt.Errorf("lead: %w", err)
	}
	err = b.pool.QueryRow(ctx, `SELECT holder, term, until FROM `+b.t("leader")).Scan(&l.Holder, &l.Term, &l.Until)
	if err != nil {
		return backend.Leadership{}, fmt.Errorf("lead: %w", err)
	}
	l.Until = l.Until.UTC()
	return l, nil
}

// Resign gives up leadership held by holder under term.
func (b *Backend) Resign(ctx context.Context, holder string, term uint64) error {
	if err := b.alive(); err != nil {
		return err
	}
	_, err := b.pool.Exec(ctx, `UPDATE `+b.t("leader")+` SET holder = '', until = `+b.t("clock()")+`
		WHERE holder = $1 AND term = $2 AND until > `+b.t("clock()"), holder, int64(term))
	if err != nil {
		return fmt.Errorf("resign: %w", err)
	}
	return nil
}

// fenced runs fn in a transaction that holds the leader row (FOR SHARE)
// when term is not 0, so that no takeover commits while fn acts: a term
// other than the current unexpired leadership's fails with ErrNotLeader.
func (b *Backend) fenced(ctx context.Context, term uint64, what string, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if term != 0 {
			var ok bool
			err := tx.QueryRow(ctx, `SELECT holder <> '' AND term = $1 AND until > `+b.t("clock()")+`
				FROM `+b.t("leader")+` FOR SHARE`, int64(term)).Scan(&ok)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if !ok {
				return fmt.Errorf("%s with term %d: %w", what, term, backend.ErrNotLeader)
			}
		}
		return fn(tx)
	})
}

// promoteCTEs is the WITH of a statement that moves the due scheduled
// and retrying tasks (those filter, "AND …" or "", also selects) to the
// back of their line, in (run_at, id) order, and counts the change; the
// caller follows it with a SELECT from promoted (the moved rows). The
// upkeep's Promote and the lease (for its own queues) run it.
func (b *Backend) promoteCTEs(filter string) string {
	return `WITH due AS MATERIALIZED (
			SELECT d.id, d.state, nextval('` + b.t("task_seq") + `') AS seq FROM (
				SELECT id, state FROM ` + b.t("tasks") + `
				WHERE state IN ('scheduled', 'retrying') ` + filter + ` AND run_at <= ` + b.t("clock()") + `
				ORDER BY run_at, id FOR UPDATE SKIP LOCKED) d),
		promoted AS (UPDATE ` + b.t("tasks") + ` t SET state = 'pending', seq = due.seq, ready_at = greatest(t.created_at, t.run_at)
			FROM due WHERE t.id = due.id
			RETURNING t.*, due.state AS old_state),
		ch AS (SELECT queue, old_state AS os, state AS ns, false AS expired FROM promoted)` + b.changesCTEs("ch")
}

// Promote moves every due scheduled and retrying task of every queue to
// pending, at the back of its priority in (run_at, id) order. Fenced by
// term.
func (b *Backend) Promote(ctx context.Context, term uint64) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	var tasks []*backend.Task
	err := b.fenced(ctx, term, "promote", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, b.promoteCTEs("")+` SELECT `+taskCols+` FROM promoted`)
		if err != nil {
			return err
		}
		tasks, err = scanTasks(rows)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("promote: %w", err)
	}
	woken := map[string]bool{}
	for _, t := range tasks {
		if !woken[t.Queue] {
			woken[t.Queue] = true
			b.wake(t.Queue)
		}
	}
	b.announce(tasks...)
	return len(tasks), nil
}

// PruneHistory removes the per-minute buckets older than olderThan and
// reports how many (queue, minute) buckets went. Fenced by term.
func (b *Backend) PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	n := 0
	err := b.fenced(ctx, term, "prune history", func(tx pgx.Tx) error {
		if err := b.lockHistory(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `WITH cut AS (SELECT `+b.t("clock()")+` - $1::interval AS m),
			a AS (DELETE FROM `+b.t("history_totals")+` WHERE minute < (SELECT m FROM cut) RETURNING queue, minute),
			d AS (DELETE FROM `+b.t("history_deltas")+` WHERE minute < (SELECT m FROM cut) RETURNING queue, minute)
			SELECT count(*) FROM (SELECT queue, minute FROM a UNION SELECT queue, minute FROM d) x`, olderThan).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	return n, nil
}

// DeleteQueue forgets a queue that holds no tasks.
func (b *Backend) DeleteQueue(ctx context.Context, name string) error {
	if err := b.alive(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var hasTasks bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+b.t("tasks")+` WHERE queue = q.name)
			FROM `+b.t("queues")+` q WHERE q.name = $1 FOR UPDATE`, name).Scan(&hasTasks)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("queue %s: %w", name, backend.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if hasTasks {
			return fmt.Errorf("queue %s: %w", name, backend.ErrNotEmpty)
		}
		return b.dropQueues(ctx, tx, []string{name})
	})
	if err != nil {
		return fmt.Errorf("delete queue: %w", err)
	}
	b.queuesChanged(name)
	return nil
}

// dropQueues removes empty queues with their (zero) counters.
func (b *Backend) dropQueues(ctx context.Context, tx pgx.Tx, names []string) error {
	_, err := tx.Exec(ctx, `DELETE FROM `+b.t("queues")+` WHERE name = ANY ($1);
		`, names)
	if err != nil {
		return err
	}
	for _, table := range []string{"count_totals", "count_deltas"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+b.t(table)+` WHERE queue = ANY ($1)`, names); err != nil {
			return err
		}
	}
	return nil
}

// ForgetQueues forgets the queues that hold no tasks, are not paused and
// went unused for unusedFor: the last pause, resume, or enqueue or lease
// of a task (kept in used_at when the task is deleted) is older. Its cost
// follows the queues and tasks that exist. Fenced by term.
func (b *Backend) ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	var names []string
	err := b.fenced(ctx, term, "forget queues", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT name FROM `+b.t("queues")+` q
			WHERE NOT paused AND used_at <= `+b.t("clock()")+` - $1::interval
			  AND NOT EXISTS (SELECT 1 FROM `+b.t("tasks")+` WHERE queue = q.name)
			FOR UPDATE SKIP LOCKED`, unusedFor)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(names) == 0 {
			return err
		}
		return b.dropQueues(ctx, tx, names)
	})
	if err != nil {
		return 0, fmt.Errorf("forget queues: %w", err)
	}
	b.queuesChanged(names...)
	return len(names), nil
}
