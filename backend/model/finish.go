package model

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// leased returns the task l is the current lease of, or ErrLeaseLost.
func (m *Model) leased(l backend.LeaseRef) (*backend.Task, error) {
	t := m.tasks[l.TaskID]
	if t == nil || !holds(t, l) {
		return nil, fmt.Errorf("task %s token %d: %w", l.TaskID, l.Token, backend.ErrLeaseLost)
	}
	return t, nil
}

// closeAttempt ends t's current attempt and its lease.
func closeAttempt(t *backend.Task, now time.Time, outcome, msg string) {
	if n := len(t.Attempts); n > 0 {
		a := &t.Attempts[n-1]
		a.FinishedAt, a.Outcome, a.Error = now, outcome, msg
	}
	t.WorkerID, t.LeaseToken, t.LeaseSecret, t.LeaseExpiresAt = "", 0, "", time.Time{}
}

// Ack completes a leased task.
func (m *Model) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	t, err := m.leased(l)
	if err != nil {
		return err
	}
	now := m.now()
	closeAttempt(t, now, "completed", "")
	t.State, t.FinishedAt, t.LeaseLosses = backend.StateCompleted, now, 0
	t.Result = append(json.RawMessage(nil), result...)
	if len(result) == 0 {
		t.Result = nil
	}
	if t.Progress != nil {
		t.Progress.Percent = 100
	}
	m.count(t.Queue, true, now)
	m.taskEvent(t, now)
	return nil
}

// Fail records a failed attempt: retrying or failed by Failure.Retries.
func (m *Model) Fail(ctx context.Context, l backend.LeaseRef, f backend.Failure) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	t, err := m.leased(l)
	if err != nil {
		return err
	}
	now := m.now()
	retries := f.Retries(t, now)
	closeAttempt(t, now, "failed", f.Error)
	t.LastError, t.LeaseLosses = f.Error, 0
	if retries {
		t.State, t.RunAt = backend.StateRetrying, now.Add(max(f.RetryIn, 0))
	} else {
		t.State, t.FinishedAt = backend.StateFailed, now
	}
	m.count(t.Queue, false, now)
	m.taskEvent(t, now)
	return nil
}

// Release hands a leased task back to the front of its line.
func (m *Model) Release(ctx context.Context, l backend.LeaseRef) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	t, err := m.leased(l)
	if err != nil {
		return err
	}
	now := m.now()
	closeAttempt(t, now, "released", "")
	t.Attempt--
	t.Progress = nil
	m.toFront(t)
	m.taskEvent(t, now)
	return nil
}

// SetProgress stores a running task's progress.
func (m *Model) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	t, err := m.leased(l)
	if err != nil {
		return err
	}
	now := m.now()
	p.At = now
	t.Progress = &p
	m.taskEvent(t, now)
	return nil
}
