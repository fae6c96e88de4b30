package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

const finalStates = `('completed', 'failed', 'canceled')`

// stateOf returns a task's state, or ErrNotFound.
func (b *Backend) stateOf(ctx context.Context, id string) (backend.State, error) {
	var s string
	err := b.pool.QueryRow(ctx, `SELECT state FROM `+b.t("tasks")+` WHERE id = $1`, id).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	return backend.State(s), err
}

// Cancel moves a task that is not final to canceled, which frees its
// unique key (for as long as it stays canceled); a processing task's
// lease is void from then on.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	// The state before is read under the row's lock, for the counts.
	t, err := scanTask(b.pool.QueryRow(ctx, `WITH o AS MATERIALIZED (
			SELECT id, state FROM `+b.t("tasks")+` WHERE id = $1 AND state NOT IN `+finalStates+` FOR NO KEY UPDATE),
		c AS (UPDATE `+b.t("tasks")+` t SET state = 'canceled', finished_at = `+b.t("clock()")+`,
				attempts = CASE WHEN t.state = 'processing'
					THEN `+b.t("end_attempt")+`(t.attempts, `+b.t("clock()")+`, 'canceled', 'canceled') ELSE t.attempts END,
				`+leaseFree+`
			FROM o WHERE t.id = o.id RETURNING t.*, o.state AS old_state),
		ch AS (SELECT queue, old_state AS os, state AS ns, false AS expired FROM c)`+b.changesCTEs("ch")+`
		SELECT `+taskCols+` FROM c`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		s, err := b.stateOf(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
		return nil, fmt.Errorf("cancel task %s (%s): %w", id, s, backend.ErrFinal)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel task %s: %w", id, err)
	}
	b.pub.send(pubItem{cancel: id})
	b.announce(t)
	return t, nil
}

// Retry sends a failed or canceled task back to pending, at the back of
// its priority, with a fresh set of attempts and its history kept.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `WITH o AS MATERIALIZED (
			SELECT id, state FROM `+b.t("tasks")+` WHERE id = $1 AND state IN ('failed', 'canceled') FOR NO KEY UPDATE),
		r AS (UPDATE `+b.t("tasks")+` t SET state = 'pending', attempt = 0, lease_losses = 0,
				finished_at = NULL, run_at = NULL, result = NULL, progress = NULL,
				seq = nextval('`+b.t("task_seq")+`'), ready_at = t.created_at,
				deadline = CASE WHEN t.deadline <= `+b.t("clock()")+` THEN NULL ELSE t.deadline END
			FROM o WHERE t.id = o.id RETURNING t.*, o.state AS old_state),
		ch AS (SELECT queue, old_state AS os, state AS ns, false AS expired FROM r)`+b.changesCTEs("ch")+`
		SELECT `+taskCols+` FROM r`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		s, err := b.stateOf(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("retry: %w", err)
		}
		return nil, fmt.Errorf("retry task %s (%s): %w", id, s, backend.ErrNotFinal)
	}
	if err != nil {
		return nil, fmt.Errorf("retry task %s: %w", id, err)
	}
	b.wake(t.Queue)
	b.announce(t)
	return t, nil
}

// Delete removes a final task and frees its unique key.
func (b *Backend) Delete(ctx context.Context, id string) error {
	if err := b.alive(); err != nil {
		return err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `WITH d AS (DELETE FROM `+b.t("tasks")+` WHERE id = $1 AND state IN `+finalStates+`
			RETURNING *),
		k AS (DELETE FROM `+b.t("unique_keys")+` WHERE task_id = $1 AND EXISTS (SELECT 1 FROM d))
		SELECT `+taskCols+` FROM d`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		s, err := b.stateOf(ctx, id)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return fmt.Errorf("delete task %s (%s): %w", id, s, backend.ErrNotFinal)
	}
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	t.State = backend.StateDeleted
	b.announce(t)
	return nil
}

// Purge deletes up to max tasks of the final state s that finished
// more than olderThan ago, oldest first, in one statement that skips rows
// other transactions hold; retention calls it in batches, which
// autovacuum keeps up with. Fenced by term.
func (b *Backend) Purge(ctx context.Context, term uint64, s backend.State, olderThan time.Duration, max int) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	if !s.Final() {
		return 0, fmt.Errorf("purge %s tasks: only completed, failed and canceled tasks can be purged: %w", s, backend.ErrInvalid)
	}
	n := 0
	var queues []string
	err := b.fenced(ctx, term, "purge", func(tx pgx.Tx) error {
		if max <= 0 {
			return nil
		}
		rows, err := tx.Query(ctx, `WITH doomed AS (
				SELECT id FROM `+b.t("tasks")+` WHERE state = $1 AND finished_at < `+b.t("clock()")+` - $2::interval
				ORDER BY finished_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
			d AS (DELETE FROM `+b.t("tasks")+` t USING doomed WHERE t.id = doomed.id RETURNING t.id, t.queue),
			k AS (DELETE FROM `+b.t("unique_keys")+` u USING d WHERE u.task_id = d.id)
			SELECT queue, count(*) FROM d GROUP BY queue`, string(s), olderThan, max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q string
			var c int
			if err := rows.Scan(&q, &c); err != nil {
				return err
			}
			n += c
			queues = append(queues, q)
		}
		sort.Strings(queues)
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("purge %s tasks: %w", s, err)
	}
	b.queuesChanged(queues...)
	return n, nil
}

// queuesChanged announces a queue_update for each queue.
func (b *Backend) queuesChanged(queues ...string) {
	now := b.eventTime()
	for _, q := range queues {
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventQueueUpdate, Queue: q, At: now}})
	}
}

// Reclaim takes back every expired lease (crash is not failure): the
// attempt is recorded "lease_expired" and given back, LeaseLosses grows,
// and the task goes to the front of its priority — or fails once
// LeaseLosses reaches MaxLeaseLosses. It also forgets workers whose
// heartbeat ran out. Fenced by term.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	msg := `'lease expired: worker ' || coalesce(t.worker_id, '?') || ' stopped extending it'`
	dead := `t.lease_losses + 1 >= $1`
	var tasks []*backend.Task
	var gone [][]byte
	err := b.fenced(ctx, term, "reclaim", func(tx pgx.Tx) error {
		// The front of the line is the most negative seq: numbers are
		// drawn latest expiry first, so the lease that expired first ends
		// up first in line.
		rows, err := tx.Query(ctx, `WITH r AS (UPDATE `+b.t("tasks")+` t SET
				state = CASE WHEN `+dead+` THEN 'failed' ELSE 'pending' END,
				finished_at = CASE WHEN `+dead+` THEN `+b.t("clock()")+` END,
				seq = CASE WHEN `+dead+` THEN t.seq ELSE x.seq END,
				ready_at = greatest(created_at, run_at),
				progress = NULL,
				attempt = t.attempt - 1,
				lease_losses = t.lease_losses + 1,
				last_error = CASE WHEN `+dead+` THEN 'lease expired ' || (t.lease_losses + 1) || ' times in a row'
				             ELSE `+msg+` END,
				attempts = `+b.t("end_attempt")+`(t.attempts, `+b.t("clock()")+`, 'lease_expired', `+msg+`),
				`+leaseFree+`
			FROM (SELECT e.id, -nextval('`+b.t("task_seq")+`') AS seq FROM (
				SELECT id FROM `+b.t("tasks")+` WHERE state = 'processing' AND lease_expires_at <= `+b.t("clock()")+`
				ORDER BY lease_expires_at DESC, id DESC FOR UPDATE SKIP LOCKED) e) x
			WHERE t.id = x.id
			RETURNING t.*),
			ch AS (SELECT queue, 'processing' AS os, state AS ns, true AS expired FROM r)`+b.changesCTEs("ch")+`
			SELECT `+taskCols+` FROM r`, b.opts.MaxLeaseLosses)
		if err != nil {
			return err
		}
		tasks, err = scanTasks(rows)
		if err != nil {
			return err
		}
		gone, err = b.expireWorkers(ctx, tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reclaim: %w", err)
	}
	woken := map[string]bool{}
	for _, t := range tasks {
		if t.State == backend.StatePending && !woken[t.Queue] {
			woken[t.Queue] = true
			b.wake(t.Queue)
		}
	}
	b.announce(tasks...)
	for _, info := range gone {
		b.workerGone(info)
	}
	return len(tasks), nil
}

// PauseQueue stops Lease from taking from the queue.
func (b *Backend) PauseQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, queue, true)
}

// ResumeQueue lets Lease take from the queue again.
func (b *Backend) ResumeQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, queue, false)
}

func (b *Backend) setPaused(ctx context.Context, queue string, paused bool) error {
	if err := b.alive(); err != nil {
		return err
	}
	if queue == "" {
		return fmt.Errorf("pause or resume: queue: empty: %w", backend.ErrInvalid)
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO `+b.t("queues")+` (name, paused, used_at) VALUES ($1, $2, `+b.t("clock()")+`)
		ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, used_at = excluded.used_at`, queue, paused)
	if err != nil {
		return fmt.Errorf("set queue %s paused=%v: %w", queue, paused, err)
	}
	if !paused {
		b.wake(queue)
	}
	b.queuesChanged(queue)
	return nil
}
