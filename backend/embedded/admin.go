package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
)

// Cancel moves a task that is not final to canceled.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	var out *backend.Task
	err := b.update(ctx, func(tx *txn) error {
		t, err := tx.loadTask(id)
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

// Retry sends a failed or canceled task to the back of its line with
// fresh attempts.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	var out *backend.Task
	err := b.update(ctx, func(tx *txn) error {
		t, err := tx.loadTask(id)
		if err != nil {
			return err
		}
		if t.State != backend.StateFailed && t.State != backend.StateCanceled {
			return fmt.Errorf("retry task %s (%s): %w", id, t.State, backend.ErrNotFinal)
		}
		prev := t.State
		t.State, t.Attempt, t.LeaseLosses = backend.StatePending, 0, 0
		t.FinishedAt, t.RunAt, t.Result, t.Progress = time.Time{}, time.Time{}, nil, nil
		if !t.Deadline.IsZero() && !tx.now.Before(t.Deadline) {
			t.Deadline = time.Time{} // a manual retry is a fresh start
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
		t, err := tx.loadTask(id)
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
		ev.Task.State = backend.StateDeleted
		tx.publish(ev)
		return nil
	})
}

// deleteTask removes a final task with its indexes, counts and unique key.
func deleteTask(tx *txn, t *backend.Task) error {
	key := []byte(t.ID)
	if t.UniqueKey != "" {
		ub := tx.Bucket(bucketUnique)
		uk := uniqueKeyOf(t.Queue, t.UniqueKey)
		if bytes.Equal(ub.Get(uk), key) {
			if err := ub.Delete(uk); err != nil {
				return err
			}
		}
	}
	if _, err := unindex(tx, t, t.State); err != nil {
		return err
	}
	if err := tx.Bucket(bucketPos).Delete(key); err != nil { // a JSON record's position
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

// Purge deletes tasks of a final state that finished more than olderThan
// ago, oldest first, at most max of them.
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
		limit := be64(uint64(tx.now.Add(-olderThan).UnixNano()))
		var doomed []*backend.Task
		c := tx.Bucket(bucketFinished).Bucket([]byte(s)).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0 && len(doomed) < max; k, v = c.Next() {
			t, err := tx.loadTask(string(v))
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
		for _, q := range sortedNames(queues) {
			tx.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: q, At: tx.now})
		}
		return nil
	})
	return n, err
}

// Reclaim takes back expired leases (crash is not failure) and forgets
// workers whose heartbeat ran out; see backend.Backend.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	return b.reclaim(ctx, term, time.Time{})
}

// reclaimBefore reclaims every lease that expires before the given time,
// whatever the clock says: Open uses it for the leases of a process that
// died.
func (b *Backend) reclaimBefore(ctx context.Context, at time.Time) (int, error) {
	return b.reclaim(ctx, 0, at)
}

func (b *Backend) reclaim(ctx context.Context, term uint64, at time.Time) (int, error) {
	n := 0
	err := b.update(ctx, func(tx *txn) error {
		n = 0
		if err := tx.fenced(term); err != nil {
			return err
		}
		limit := be64(uint64(tx.now.UnixNano()) + 1) // expired when expiry <= now
		if !at.IsZero() {
			limit = be64(uint64(at.UnixNano()))
		}
		var expired []*backend.Task
		c := tx.Bucket(bucketLeases).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, v = c.Next() {
			t, err := tx.loadTask(string(v))
			if err != nil {
				return err
			}
			expired = append(expired, t)
		}
		// Each goes to the front, so the last to expire goes first and
		// the first to expire ends up first in line.
		for i := len(expired) - 1; i >= 0; i-- {
			t := expired[i]
			msg := model.LeaseExpiredMessage(t.WorkerID)
			endAttempt(tx, t, "lease_expired", msg)
			t.LastError = msg
			t.Attempt--
			t.LeaseLosses++
			t.Progress = nil
			if t.LeaseLosses >= tx.b.maxLosses {
				t.State, t.FinishedAt = backend.StateFailed, tx.now
				t.LastError = model.LeaseLossesMessage(t.LeaseLosses)
			} else {
				t.State = backend.StatePending
			}
			if err := saveAt(tx, t, backend.StateProcessing, true); err != nil {
				return err
			}
			if err := recordHistory(tx, t.Queue, false); err != nil {
				return err
			}
			n++
		}
		return expireWorkers(tx)
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
	if queue == "" {
		return fmt.Errorf("pause or resume: empty queue name: %w", backend.ErrInvalid)
	}
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
