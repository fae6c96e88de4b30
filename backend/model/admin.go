package model

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Cancel moves a task that is not final to canceled.
func (m *Model) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	t := m.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("cancel task %s: %w", id, backend.ErrNotFound)
	}
	if t.State.Final() {
		return nil, fmt.Errorf("cancel task %s (%s): %w", id, t.State, backend.ErrFinal)
	}
	now := m.now()
	if t.State == backend.StateProcessing {
		closeAttempt(t, now, "canceled", "canceled")
	}
	m.leave(t)
	t.State, t.FinishedAt = backend.StateCanceled, now
	m.taskEvent(t, now)
	return out(t), nil
}

// Retry sends a failed or canceled task to the back of its line with a
// fresh set of attempts.
func (m *Model) Retry(ctx context.Context, id string) (*backend.Task, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	t := m.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("retry task %s: %w", id, backend.ErrNotFound)
	}
	if t.State != backend.StateFailed && t.State != backend.StateCanceled {
		return nil, fmt.Errorf("retry task %s (%s): %w", id, t.State, backend.ErrNotFinal)
	}
	now := m.now()
	t.Attempt, t.LeaseLosses = 0, 0
	t.FinishedAt, t.RunAt, t.Result, t.Progress = time.Time{}, time.Time{}, nil, nil
	if !t.Deadline.IsZero() && !now.Before(t.Deadline) {
		t.Deadline = time.Time{} // a manual retry is a fresh start
	}
	m.toBack(t)
	m.taskEvent(t, now)
	return out(t), nil
}

// Delete removes a final task.
func (m *Model) Delete(ctx context.Context, id string) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	t := m.tasks[id]
	if t == nil {
		return fmt.Errorf("delete task %s: %w", id, backend.ErrNotFound)
	}
	if !t.State.Final() {
		return fmt.Errorf("delete task %s (%s): %w", id, t.State, backend.ErrNotFinal)
	}
	now := m.now()
	m.remove(t)
	ev := backend.EventOf(t, now)
	ev.Task.State = backend.StateDeleted
	m.publish(ev)
	return nil
}

// remove forgets a final task and frees its unique key.
func (m *Model) remove(t *backend.Task) {
	k := uniqueKey{t.Queue, t.UniqueKey}
	if t.UniqueKey != "" && m.unique[k] == t.ID {
		delete(m.unique, k)
	}
	delete(m.tasks, t.ID)
	m.leave(t)
}

// Purge deletes up to max final tasks of state s older than olderThan.
func (m *Model) Purge(ctx context.Context, term uint64, s backend.State, olderThan time.Duration, max int) (int, error) {
	if !s.Final() {
		return 0, fmt.Errorf("purge %s tasks: only completed, failed and canceled tasks can be purged: %w", s, backend.ErrInvalid)
	}
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.end()
	now := m.now()
	if err := m.fenced(term, now); err != nil {
		return 0, err
	}
	cutoff := now.Add(-olderThan)
	var doomed []*backend.Task
	for _, t := range m.tasks {
		if t.State == s && t.FinishedAt.Before(cutoff) {
			doomed = append(doomed, t)
		}
	}
	sort.Slice(doomed, func(i, j int) bool {
		a, b := doomed[i], doomed[j]
		if !a.FinishedAt.Equal(b.FinishedAt) {
			return a.FinishedAt.Before(b.FinishedAt)
		}
		return a.ID < b.ID
	})
	doomed = doomed[:min(len(doomed), maxZero(max))]
	touched := map[string]bool{}
	for _, t := range doomed {
		m.remove(t)
		touched[t.Queue] = true
	}
	for _, q := range sortedKeys(touched) {
		m.queueEvent(q, now)
	}
	return len(doomed), nil
}

func maxZero(n int) int { return max(n, 0) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Reclaim takes back expired leases (crash is not failure) and removes
// workers whose heartbeat ran out.
func (m *Model) Reclaim(ctx context.Context, term uint64) (int, error) {
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.end()
	now := m.now()
	if err := m.fenced(term, now); err != nil {
		return 0, err
	}
	var expired []*backend.Task
	for _, t := range m.tasks {
		if t.State == backend.StateProcessing && !t.LeaseExpiresAt.After(now) {
			expired = append(expired, t)
		}
	}
	// The first to expire must end up first in line, and each goes to
	// the front: so the last to expire goes first.
	sort.Slice(expired, func(i, j int) bool {
		a, b := expired[i], expired[j]
		if !a.LeaseExpiresAt.Equal(b.LeaseExpiresAt) {
			return a.LeaseExpiresAt.After(b.LeaseExpiresAt)
		}
		return a.ID > b.ID
	})
	for _, t := range expired {
		msg := LeaseExpiredMessage(t.WorkerID)
		closeAttempt(t, now, "lease_expired", msg)
		t.LastError = msg
		t.Attempt--
		t.LeaseLosses++
		t.Progress = nil
		if t.LeaseLosses >= m.maxLosses {
			t.State, t.FinishedAt = backend.StateFailed, now
			t.LastError = LeaseLossesMessage(t.LeaseLosses)
		} else {
			m.toFront(t)
		}
		m.count(t.Queue, false, now)
		m.taskEvent(t, now)
	}
	for _, id := range sortedKeys(m.workers) {
		w := m.workers[id]
		if now.Before(w.expires) {
			continue
		}
		delete(m.workers, id)
		m.workerEvent(w.info, true, now)
	}
	return len(expired), nil
}

// LeaseExpiredMessage is the error of an attempt whose lease expired.
func LeaseExpiredMessage(worker string) string {
	return fmt.Sprintf("lease expired: worker %s stopped extending it", worker)
}

// LeaseLossesMessage is the error of a task failed for losing its lease
// n times in a row.
func LeaseLossesMessage(n int) string {
	return fmt.Sprintf("lease expired %d times in a row", n)
}

// Promote moves every due scheduled and retrying task to pending.
func (m *Model) Promote(ctx context.Context, term uint64) (int, error) {
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.end()
	now := m.now()
	if err := m.fenced(term, now); err != nil {
		return 0, err
	}
	return m.promote(now, func(string) bool { return true }), nil
}
