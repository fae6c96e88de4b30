package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// EnqueueTx stores tasks inside the caller's pgx transaction: they exist
// only if, and once, that transaction commits, together with whatever
// else it wrote. The wake-up of the workers and the tasks' events are
// NOTIFYs in the same transaction, so they are sent at its commit and
// never for a rollback.
//
// The tasks are built and checked as for Enqueue (the caller fills every
// field; taskmill.Client.Prepare builds them from the usual options). A
// task refused for its unique key is reported Duplicate and not stored.
// A task id that exists already fails the call with ErrDuplicate; the
// work is done under a savepoint, so the caller's transaction stays
// usable either way. The tx must be on the database the backend uses.
func (b *Backend) EnqueueTx(ctx context.Context, tx pgx.Tx, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	return b.enqueueInCallerTx(ctx, pgxExecer{tx}, tasks)
}

// EnqueueSQLTx is EnqueueTx for a database/sql transaction, with any
// PostgreSQL driver (pgx's stdlib, lib/pq): it uses plain scalar
// parameters and $N placeholders only.
func (b *Backend) EnqueueSQLTx(ctx context.Context, tx *sql.Tx, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	return b.enqueueInCallerTx(ctx, sqlExecer{tx}, tasks)
}

func (b *Backend) enqueueInCallerTx(ctx context.Context, ex execer, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	if err := b.checkTasks(tasks); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return []backend.EnqueueResult{}, nil
	}
	if err := ex.exec(ctx, "SAVEPOINT taskmill_enqueue"); err != nil {
		return nil, fmt.Errorf("enqueue in transaction: %w", err)
	}
	results, err := b.enqueueInSavepoint(ctx, ex, tasks)
	if err != nil {
		if rbErr := ex.exec(ctx, "ROLLBACK TO SAVEPOINT taskmill_enqueue"); rbErr != nil {
			return nil, errors.Join(err, fmt.Errorf("roll back to the savepoint: %w", rbErr))
		}
		return nil, err
	}
	if err := ex.exec(ctx, "RELEASE SAVEPOINT taskmill_enqueue"); err != nil {
		return nil, fmt.Errorf("enqueue in transaction: %w", err)
	}
	return results, nil
}

func (b *Backend) enqueueInSavepoint(ctx context.Context, ex execer, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	results, stored, err := b.enqueueIn(ctx, ex, tasks)
	if err != nil {
		return nil, err
	}
	var items []pubItem
	queues := map[string]bool{}
	for _, t := range stored {
		if !queues[t.Queue] {
			queues[t.Queue] = true
			items = append(items, pubItem{wake: t.Queue})
		}
	}
	if b.eventsWanted() {
		now := b.eventTime()
		for _, t := range newTaskViews(stored) {
			items = append(items, pubItem{ev: backend.EventOf(t, now)})
		}
	}
	channels, payloads := b.pub.encode(items)
	for i := range channels {
		if err := ex.exec(ctx, "SELECT pg_notify($1::text, $2::text)", channels[i], payloads[i]); err != nil {
			return nil, fmt.Errorf("enqueue in transaction: notify: %w", err)
		}
	}
	return results, nil
}

type sqlExecer struct{ tx *sql.Tx }

func (e sqlExecer) exec(ctx context.Context, query string, args ...any) error {
	_, err := e.tx.ExecContext(ctx, query, args...)
	return err
}

func (e sqlExecer) firstString(ctx context.Context, query string, args ...any) (string, bool, error) {
	var s string
	err := e.tx.QueryRowContext(ctx, query, args...).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return s, err == nil, err
}
