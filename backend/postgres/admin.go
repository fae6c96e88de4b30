package postgres

import (
	"context"
	"errors"
	"fmt"
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

// Cancel moves a task that is not final to canceled and frees its unique
// key; a processing task's lease is void from then on.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `WITH c AS (
			UPDATE `+b.t("tasks")+` SET state = 'canceled', finished_at = `+b.t("clock()")+`,
				attempts = CASE WHEN state = 'processing'
					THEN `+b.t("end_attempt")+`(attempts, `+b.t("clock()")+`, 'canceled', 'canceled') ELSE attempts END,
				`+leaseFree+`
			WHERE id = $1 AND state NOT IN `+finalStates+` RETURNING *),
		k AS (DELETE FROM `+b.t("unique_keys")+` WHERE task_id = $1 AND EXISTS (SELECT 1 FROM c))
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
	b.announce(t)
	return t, nil
}

// Retry sends a failed or canceled task back to pending, at the back of
// its priority, with a fresh set of attempts and its history kept.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `UPDATE `+b.t("tasks")+` SET state = 'pending', attempt = 0,
			finished_at = NULL, run_at = NULL, result = NULL, progress = NULL,
			seq = nextval('`+b.t("task_seq")+`'), ready_at = `+b.t("clock()")+`,
			deadline = CASE WHEN deadline <= `+b.t("clock()")+` THEN NULL ELSE deadline END
		WHERE id = $1 AND state IN ('failed', 'canceled') RETURNING `+taskCols, id))
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
	t := &backend.Task{ID: id}
	err := b.pool.QueryRow(ctx, `WITH d AS (DELETE FROM `+b.t("tasks")+` WHERE id = $1 AND state IN `+finalStates+`
			RETURNING type, queue, attempt),
		k AS (DELETE FROM `+b.t("unique_keys")+` WHERE task_id = $1 AND EXISTS (SELECT 1 FROM d))
		SELECT type, queue, attempt FROM d`, id).Scan(&t.Type, &t.Queue, &t.Attempt)
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
	t.State = "deleted"
	b.announce(t)
	return nil
}

// Purge deletes up to max tasks of the final state s that finished
// before the given time, oldest first, in one statement that skips rows
// other transactions hold; retention calls it in batches, which
// autovacuum keeps up with.
func (b *Backend) Purge(ctx context.Context, s backend.State, before time.Time, max int) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	if !s.Final() {
		return 0, fmt.Errorf("purge %s tasks: only completed, failed and canceled tasks can be purged", s)
	}
	if max <= 0 {
		return 0, nil
	}
	rows, err := b.pool.Query(ctx, `WITH doomed AS (
			SELECT id FROM `+b.t("tasks")+` WHERE state = $1 AND finished_at < $2
			ORDER BY finished_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
		d AS (DELETE FROM `+b.t("tasks")+` t USING doomed WHERE t.id = doomed.id RETURNING t.id, t.queue),
		k AS (DELETE FROM `+b.t("unique_keys")+` u USING d WHERE u.task_id = d.id)
		SELECT queue, count(*) FROM d GROUP BY queue`, string(s), before.UTC(), max)
	if err != nil {
		return 0, fmt.Errorf("purge %s tasks: %w", s, err)
	}
	defer rows.Close()
	n := 0
	now := time.Now().UTC()
	for rows.Next() {
		var q string
		var c int
		if err := rows.Scan(&q, &c); err != nil {
			return 0, fmt.Errorf("purge %s tasks: %w", s, err)
		}
		n += c
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventQueueUpdate, Queue: q, At: now}})
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("purge %s tasks: %w", s, err)
	}
	return n, nil
}

// Reclaim returns tasks whose lease expired before now to pending, at
// the front of their priority, or fails them when that was their last
// attempt; it also forgets workers whose heartbeat ran out.
func (b *Backend) Reclaim(ctx context.Context, now time.Time) (int, error) {
	if err := b.alive(); err != nil {
		return 0, err
	}
	msg := `'lease expired: worker ' || coalesce(worker_id, '?') || ' stopped extending it'`
	last := `attempt >= max_attempts`
	rows, err := b.pool.Query(ctx, `UPDATE `+b.t("tasks")+` SET
			state = CASE WHEN `+last+` THEN 'failed' ELSE 'pending' END,
			finished_at = CASE WHEN `+last+` THEN `+b.t("clock()")+` END,
			seq = CASE WHEN `+last+` THEN seq ELSE -nextval('`+b.t("task_seq")+`') END,
			ready_at = `+b.t("clock()")+`,
			last_error = `+msg+`,
			attempts = `+b.t("end_attempt")+`(attempts, `+b.t("clock()")+`, 'lease_expired', `+msg+`),
			`+leaseFree+`
		WHERE id IN (SELECT id FROM `+b.t("tasks")+` WHERE state = 'processing' AND lease_expires_at < $1
		             FOR UPDATE SKIP LOCKED)
		RETURNING `+taskCols, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("reclaim: %w", err)
	}
	tasks, err := scanTasks(rows)
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
	if err := b.expireWorkers(ctx, now); err != nil {
		return len(tasks), err
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
		return errors.New("pause or resume: queue: empty")
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO `+b.t("queues")+` (name, paused) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET paused = excluded.paused`, queue, paused)
	if err != nil {
		return fmt.Errorf("set queue %s paused=%v: %w", queue, paused, err)
	}
	if !paused {
		b.wake(queue)
	}
	b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventQueueUpdate, Queue: queue, At: time.Now().UTC()}})
	return nil
}
