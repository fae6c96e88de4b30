package embedded

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/taskmill/taskmill/backend"
)

// leased loads the task a lease names, or ErrLeaseLost when the lease is
// not the task's current one.
func leased(tx *txn, l backend.LeaseRef) (*backend.Task, error) {
	t, err := getTask(tx.Tx, l.TaskID)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", l.TaskID, backend.ErrLeaseLost)
	}
	if t.State != backend.StateProcessing || t.LeaseToken != l.Token {
		return nil, fmt.Errorf("task %s token %d: %w", l.TaskID, l.Token, backend.ErrLeaseLost)
	}
	return t, nil
}

// endAttempt closes the current attempt record.
func endAttempt(tx *txn, t *backend.Task, outcome, errMsg string) {
	if n := len(t.Attempts); n > 0 {
		a := &t.Attempts[n-1]
		a.FinishedAt, a.Outcome, a.Error = tx.now, outcome, errMsg
	}
	t.WorkerID, t.LeaseToken, t.LeaseExpiresAt = "", 0, timeZero
}

// Ack completes a leased task with its result.
func (b *Backend) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		endAttempt(tx, t, "completed", "")
		t.State, t.FinishedAt = backend.StateCompleted, tx.now
		t.Result = append(json.RawMessage(nil), result...)
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
		endAttempt(tx, t, "failed", f.Error)
		t.LastError = f.Error
		if f.Retries(t, tx.now) {
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

// Release hands a leased task back without counting the attempt.
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
		return save(tx, t, backend.StateProcessing)
	})
}

// SetProgress stores a running task's progress.
func (b *Backend) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	return b.update(ctx, func(tx *txn) error {
		t, err := leased(tx, l)
		if err != nil {
			return err
		}
		t.Progress = &p
		return save(tx, t, backend.StateProcessing)
	})
}
