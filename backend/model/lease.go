package model

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/leasewait"
)

// Lease hands out pending tasks; see the package documentation.
func (m *Model) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if req.LeaseFor <= 0 {
		return nil, fmt.Errorf("lease for %s: %w", req.LeaseFor, backend.ErrInvalid)
	}
	if req.Max < 1 {
		req.Max = 1
	}
	cfg := leasewait.Config{Wake: m.wake, Stop: m.stop, Closed: backend.ErrClosed}
	first := true
	return leasewait.Run(ctx, req.Wait, cfg, func(ctx context.Context) ([]*backend.Task, time.Duration, error) {
		if !first && ctx.Err() != nil {
			return nil, 0, nil
		}
		first = false
		return m.leaseOnce(ctx, req)
	})
}

func (m *Model) leaseOnce(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, time.Duration, error) {
	if err := m.begin(ctx); err != nil {
		return nil, 0, err
	}
	defer m.end()
	now := m.now()
	queues := dedupe(req.Queues)
	m.promote(now, func(q string) bool { return slices.Contains(queues, q) })
	var leased []*backend.Task
	for _, q := range queues {
		if len(leased) >= req.Max {
			break
		}
		if qs := m.queues[q]; qs != nil && qs.paused {
			continue
		}
		took := false
		for _, t := range m.lineOf(q) {
			if len(leased) >= req.Max {
				break
			}
			if len(req.Types) > 0 && !slices.Contains(req.Types, t.Type) {
				continue
			}
			if !t.Deadline.IsZero() && !now.Before(t.Deadline) {
				m.leave(t)
				t.State, t.FinishedAt = backend.StateFailed, now
				t.LastError = DeadlineMessage
				m.count(t.Queue, false, now)
				m.taskEvent(t, now)
				continue
			}
			m.leave(t)
			m.token++
			t.State = backend.StateProcessing
			t.Attempt++
			t.WorkerID = req.WorkerID
			t.LeaseToken = m.token
			t.LeaseSecret = m.secrets()
			t.LeaseExpiresAt = now.Add(req.LeaseFor)
			t.StartedAt = now
			t.Progress = nil
			t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: req.WorkerID, StartedAt: now})
			m.taskEvent(t, now)
			leased = append(leased, t.Clone())
			took = true
		}
		if took {
			m.use(q, now)
		}
	}
	var untilDue time.Duration
	if len(leased) == 0 {
		untilDue = m.untilDue(queues, now)
	}
	return leased, untilDue, nil
}

// DeadlineMessage is the error of a task whose deadline passed before a
// worker could start it.
const DeadlineMessage = "deadline exceeded before the task could start"

func dedupe(qs []string) []string {
	out := make([]string, 0, len(qs))
	for _, q := range qs {
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// lineOf returns the pending tasks of a queue in line order: highest
// priority first, then by place.
func (m *Model) lineOf(queue string) []*backend.Task {
	var line []*backend.Task
	for id := range m.line {
		if t := m.tasks[id]; t.Queue == queue {
			line = append(line, t)
		}
	}
	sort.Slice(line, func(i, j int) bool {
		a, b := line[i], line[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return m.line[a.ID] < m.line[b.ID]
	})
	return line
}

// promote moves the due scheduled and retrying tasks of the queues
// picked to the back of their lines, in (RunAt, ID) order.
func (m *Model) promote(now time.Time, pick func(queue string) bool) int {
	var due []*backend.Task
	for _, t := range m.tasks {
		if (t.State == backend.StateScheduled || t.State == backend.StateRetrying) && !t.RunAt.After(now) && pick(t.Queue) {
			due = append(due, t)
		}
	}
	sortByRunAt(due)
	for _, t := range due {
		m.toBack(t)
		m.taskEvent(t, now)
	}
	return len(due)
}

func sortByRunAt(ts []*backend.Task) {
	sort.Slice(ts, func(i, j int) bool {
		if !ts[i].RunAt.Equal(ts[j].RunAt) {
			return ts[i].RunAt.Before(ts[j].RunAt)
		}
		return ts[i].ID < ts[j].ID
	})
}

// untilDue is how long until the first delayed task of the queues is due.
func (m *Model) untilDue(queues []string, now time.Time) time.Duration {
	var first time.Time
	for _, t := range m.tasks {
		if (t.State == backend.StateScheduled || t.State == backend.StateRetrying) && slices.Contains(queues, t.Queue) &&
			(first.IsZero() || t.RunAt.Before(first)) {
			first = t.RunAt
		}
	}
	if first.IsZero() {
		return 0
	}
	return max(first.Sub(now), time.Millisecond)
}

// Extend renews the leases the worker holds.
func (m *Model) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	if leaseFor <= 0 {
		return nil, fmt.Errorf("extend for %s: %w", leaseFor, backend.ErrInvalid)
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	now := m.now()
	results := make([]backend.ExtendResult, len(leases))
	for i, l := range leases {
		results[i] = backend.ExtendResult{TaskID: l.TaskID}
		t := m.tasks[l.TaskID]
		if t == nil {
			continue
		}
		if holds(t, l) && t.WorkerID == workerID {
			t.LeaseExpiresAt = now.Add(leaseFor)
			results[i].Held = true
		}
		results[i].Canceled = t.State == backend.StateCanceled
	}
	return results, nil
}

// holds reports whether l is t's current lease.
func holds(t *backend.Task, l backend.LeaseRef) bool {
	return t.State == backend.StateProcessing && t.LeaseToken == l.Token && t.LeaseSecret == l.Secret
}
