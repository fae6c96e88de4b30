package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

var timeZero time.Time

// Cancel moves a task that is not final to canceled.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	var out *backend.Task
	err := b.update(ctx, func(tx *txn) error {
		t, err := getTask(tx.Tx, id)
		if err != nil {
			return err
		}
		if t.State.Final() {
			return fmt.Errorf("cancel task %s (%s): %w", id, t.State, backend.ErrFinal)
		}
		prev := t.State
		if prev == backend.StateProcessing {
			endAttempt(tx, t, "canceled", "canceled")
		}
		t.State, t.FinishedAt = backend.StateCanceled, tx.now
		if err := save(tx, t, prev); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}

// Retry sends a failed or canceled task back to pending with fresh attempts.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	var out *backend.Task
	err := b.update(ctx, func(tx *txn) error {
		t, err := getTask(tx.Tx, id)
		if err != nil {
			return err
		}
		if t.State != backend.StateFailed && t.State != backend.StateCanceled {
			return fmt.Errorf("retry task %s (%s): %w", id, t.State, backend.ErrNotFinal)
		}
		prev := t.State
		t.State, t.Attempt = backend.StatePending, 0
		t.FinishedAt, t.RunAt, t.Result, t.Progress = timeZero, timeZero, nil, nil
		if !t.Deadline.IsZero() && !tx.now.Before(t.Deadline) {
			t.Deadline = timeZero // a manual retry is a fresh start
		}
		if err := save(tx, t, prev); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}

// Delete removes a final task.
func (b *Backend) Delete(ctx context.Context, id string) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := getTask(tx.Tx, id)
		if err != nil {
			return err
		}
		if !t.State.Final() {
			return fmt.Errorf("delete task %s (%s): %w", id, t.State, backend.ErrNotFinal)
		}
		if err := deleteTask(tx, t); err != nil {
			return err
		}
		ev := backend.EventOf(t, tx.now)
		ev.Task.State = "deleted"
		tx.publish(ev)
		return nil
	})
}

// deleteTask removes a final task with its indexes, counts and unique key.
func deleteTask(tx *txn, t *backend.Task) error {
	key := []byte(t.ID)
	if t.UniqueKey != "" {
		ub := tx.Bucket(bucketUnique)
		if bytes.Equal(ub.Get([]byte(t.UniqueKey)), key) {
			if err := ub.Delete([]byte(t.UniqueKey)); err != nil {
				return err
			}
		}
	}
	if err := unindex(tx, t, t.State); err != nil {
		return err
	}
	if err := tx.Bucket(bucketStates).Bucket([]byte(t.State)).Delete(key); err != nil {
		return err
	}
	if err := addCount(tx, t.Queue, t.State, -1); err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).Delete(key)
}

// Purge deletes tasks of a final state that finished before the given
// time, oldest first, at most max of them.
func (b *Backend) Purge(ctx context.Context, term uint64, s backend.State, olderThan time.Duration, max int) (int, error) {
	if !s.Final() {
		return 0, fmt.Errorf("purge %s tasks: only completed, failed and canceled tasks can be purged: %w", s, backend.ErrInvalid)
	}
	n := 0
	err := b.update(ctx, func(tx *txn) error {
		// Read everything first, then write (see update).
		n = 0
		if err := tx.fenced(term); err != nil {
			return err
		}
		before := tx.now.Add(-olderThan)
		var doomed []*backend.Task
		c := tx.Bucket(bucketFinished).Bucket([]byte(s)).Cursor()
		limit := be64(uint64(before.UnixNano()))
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0 && len(doomed) < max; k, v = c.Next() {
			t, err := getTask(tx.Tx, string(v))
			if err != nil {
				return err
			}
			doomed = append(doomed, t)
		}
		queues := map[string]bool{}
		for _, t := range doomed {
			if err := deleteTask(tx, t); err != nil {
				return err
			}
			queues[t.Queue] = true
			n++
		}
		for q := range queues {
			tx.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: q, At: tx.now})
		}
		return nil
	})
	return n, err
}

// Reclaim returns tasks whose lease expired to pending, or fails them when
// that was their last attempt. It also forgets workers whose heartbeat ran out.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	return b.reclaim(ctx, term, time.Time{})
}

// reclaimBefore reclaims every lease that expires before now, whatever
// the clock says: Open uses it for the leases of a process that died.
func (b *Backend) reclaimBefore(ctx context.Context, now time.Time) (int, error) {
	return b.reclaim(ctx, 0, now)
}

func (b *Backend) reclaim(ctx context.Context, term uint64, at time.Time) (int, error) {
	n := 0
	err := b.update(ctx, func(tx *txn) error {
		n = 0
		if err := tx.fenced(term); err != nil {
			return err
		}
		now := at
		if now.IsZero() {
			now = tx.now.Add(1) // expired when expiry <= now
		}
		c := tx.Bucket(bucketLeases).Cursor()
		limit := be64(uint64(now.UnixNano()))
		var expired []string
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, v = c.Next() {
			expired = append(expired, string(v))
		}
		for _, id := range expired {
			t, err := getTask(tx.Tx, id)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("lease expired: worker %s stopped extending it", t.WorkerID)
			endAttempt(tx, t, "lease_expired", msg)
			t.LastError = msg
			if t.Attempt >= t.MaxAttempts {
				t.State, t.FinishedAt = backend.StateFailed, tx.now
			} else {
				t.State = backend.StatePending
			}
			if err := save(tx, t, backend.StateProcessing); err != nil {
				return err
			}
			if err := recordHistory(tx, t.Queue, false); err != nil {
				return err
			}
			n++
		}
		return expireWorkers(tx, now)
	})
	return n, err
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
	return b.update(ctx, func(tx *txn) error {
		if err := putQueue(tx, queue, queueRecord{Paused: paused, Used: tx.now}); err != nil {
			return err
		}
		if !paused {
			tx.wakeLeasers()
		}
		tx.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: queue, At: tx.now})
		return nil
	})
}
