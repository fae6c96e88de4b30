package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// leased loads the task a lease names, or ErrLeaseLost when the lease is
// not the task's current one (task, token and secret).
func leased(tx *txn, l backend.LeaseRef) (*backend.Task, error) {
	t, err := tx.loadTask(l.TaskID)
	if err != nil {
		if refusal(err) {
			return nil, fmt.Errorf("task %s: %w", l.TaskID, backend.ErrLeaseLost)
		}
		return nil, err
	}
	if t.State != backend.StateProcessing || t.LeaseToken != l.Token || t.LeaseSecret != l.Secret {
		return nil, fmt.Errorf("task %s token %d: %w", l.TaskID, l.Token, backend.ErrLeaseLost)
	}
	return t, nil
}

// endAttempt closes the current attempt record and the lease.
func endAttempt(tx *txn, t *backend.Task, outcome, errMsg string) {
	if n := len(t.Attempts); n > 0 {
		a := &t.Attempts[n-1]
		a.FinishedAt, a.Outcome, a.Error = tx.now, outcome, errMsg
	}
	t.WorkerID, t.LeaseToken, t.LeaseSecret, t.LeaseExpiresAt = "", 0, "", time.Time{}
}

// Ack completes a leased task with its result.
func (b *Backend) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		endAttempt(tx, t, "completed", "")
		t.State, t.FinishedAt, t.LeaseLosses = backend.StateCompleted, tx.now, 0
		t.Result = append(json.RawMessage(nil), result...)
		if len(result) == 0 {
			t.Result = nil
		}
		if t.Progress != nil {
			t.Progress.Percent = 100
		}
		if err := save(tx, t, backend.StateProcessing); err != nil {
			return err
		}
		return recordHistory(tx, t.Queue, true)
	})
}

// Fail records a failed attempt and schedules a retry or dead-letters it.
func (b *Backend) Fail(ctx context.Context, l backend.LeaseRef, f backend.Failure) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		retries := f.Retries(t, tx.now)
		endAttempt(tx, t, "failed", f.Error)
		t.LastError, t.LeaseLosses = f.Error, 0
		if retries {
			t.State, t.RunAt = backend.StateRetrying, tx.now.Add(max(f.RetryIn, 0))
		} else {
			t.State, t.FinishedAt = backend.StateFailed, tx.now
		}
		if err := save(tx, t, backend.StateProcessing); err != nil {
			return err
		}
		return recordHistory(tx, t.Queue, false)
	})
}

// Release hands a leased task back to the front of its line without
// spending the attempt.
func (b *Backend) Release(ctx context.Context, l backend.LeaseRef) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		endAttempt(tx, t, "released", "")
		t.Attempt--
		t.Progress = nil
		t.State = backend.StatePending
		return saveAt(tx, t, backend.StateProcessing, true)
	})
}

// SetProgress stores a running task's progress, stamped with the
// backend's clock.
func (b *Backend) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		p.At = tx.now
		t.Progress = &p
		// The lease does not change: rewrite the task's record alone.
		if err := putTaskRecord(tx, t, leaseOnly); err != nil {
			return err
		}
		tx.taskEvent(t)
		return nil
	})
}
