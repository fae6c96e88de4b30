package model

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Enqueue stores new tasks; see the package documentation.
func (m *Model) Enqueue(ctx context.Context, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	now := m.now()
	seen := map[string]bool{}
	// Malformed tasks first: that check needs no store, so a backend can
	// make it before it reaches its store.
	for i, t := range tasks {
		if err := CheckNew(t); err != nil {
			return nil, fmt.Errorf("enqueue task %d: %w", i, err)
		}
	}
	for _, t := range tasks {
		if seen[t.ID] || m.tasks[t.ID] != nil {
			return nil, fmt.Errorf("task id %s already exists: %w", t.ID, backend.ErrDuplicate)
		}
		seen[t.ID] = true
	}
	results := make([]backend.EnqueueResult, len(tasks))
	for i, in := range tasks {
		t := Admit(in, now)
		if t.UniqueKey != "" {
			k := uniqueKey{t.Queue, t.UniqueKey}
			if holder := m.holder(k, now); holder != "" {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
				continue
			}
			m.unique[k] = t.ID
		}
		results[i] = backend.EnqueueResult{ID: t.ID}
		m.tasks[t.ID] = t
		m.use(t.Queue, now)
		if t.State == backend.StatePending {
			m.toBack(t)
		}
		m.taskEvent(t, now)
	}
	return results, nil
}

// CheckNew reports, wrapping backend.ErrInvalid, what makes t unfit for
// Enqueue. Backends use it so that the rule is one.
func CheckNew(t *backend.Task) error {
	switch {
	case t == nil:
		return fmt.Errorf("nil task: %w", backend.ErrInvalid)
	case t.ID == "":
		return fmt.Errorf("empty id: %w", backend.ErrInvalid)
	case t.Type == "":
		return fmt.Errorf("task %s: empty type: %w", t.ID, backend.ErrInvalid)
	case t.Queue == "":
		return fmt.Errorf("task %s: empty queue: %w", t.ID, backend.ErrInvalid)
	case t.Priority < 0 || t.Priority > backend.MaxPriority:
		return fmt.Errorf("task %s: priority %d outside 0..%d: %w", t.ID, t.Priority, backend.MaxPriority, backend.ErrInvalid)
	case t.MaxAttempts < 1:
		return fmt.Errorf("task %s: max attempts %d: %w", t.ID, t.MaxAttempts, backend.ErrInvalid)
	case t.State != backend.StatePending && t.State != backend.StateScheduled:
		return fmt.Errorf("task %s: state %q; new tasks are pending or scheduled: %w", t.ID, t.State, backend.ErrInvalid)
	case t.State == backend.StateScheduled && t.RunAt.IsZero():
		return fmt.Errorf("task %s: scheduled without run_at: %w", t.ID, backend.ErrInvalid)
	}
	return nil
}

// Admit returns the task to store for t enqueued at backend time now:
// a copy with the state machine's fields reset, CreatedAt now, and RunAt
// and UniqueUntil moved from the caller's clock to the backend's.
// Backends use it so that the rule is one.
func Admit(t *backend.Task, now time.Time) *backend.Task {
	c := t.Clone()
	shift := time.Duration(0)
	if !c.CreatedAt.IsZero() {
		shift = now.Sub(c.CreatedAt)
	}
	if !c.RunAt.IsZero() {
		c.RunAt = c.RunAt.Add(shift).UTC()
	}
	if !c.UniqueUntil.IsZero() {
		c.UniqueUntil = c.UniqueUntil.Add(shift).UTC()
	}
	if !c.Deadline.IsZero() {
		c.Deadline = c.Deadline.UTC()
	}
	c.CreatedAt = now
	c.Attempt, c.LeaseLosses = 0, 0
	c.WorkerID, c.LeaseToken, c.LeaseSecret, c.LeaseExpiresAt = "", 0, "", time.Time{}
	c.StartedAt, c.FinishedAt = time.Time{}, time.Time{}
	c.Result, c.LastError, c.Attempts, c.Progress = nil, "", nil, nil
	return c
}

// holder returns the id of the task holding k at now, or "".
func (m *Model) holder(k uniqueKey, now time.Time) string {
	id, ok := m.unique[k]
	if !ok {
		return ""
	}
	t := m.tasks[id]
	if t == nil || t.State == backend.StateCanceled || !now.Before(t.UniqueUntil) {
		return ""
	}
	return id
}
