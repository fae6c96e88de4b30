package model

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Queues lists the known queues by name with their counts.
func (m *Model) Queues(ctx context.Context) ([]backend.QueueInfo, error) {
	if err := m.read(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	infos := map[string]*backend.QueueInfo{}
	for name, q := range m.queues {
		counts := make(map[backend.State]int, len(backend.States))
		for _, s := range backend.States {
			counts[s] = 0
		}
		infos[name] = &backend.QueueInfo{Name: name, Paused: q.paused, Counts: counts}
	}
	for _, t := range m.tasks {
		qi := infos[t.Queue]
		qi.Counts[t.State]++
		if t.State == backend.StatePending {
			ready := t.CreatedAt
			if t.RunAt.After(ready) {
				ready = t.RunAt
			}
			if qi.OldestPendingAt.IsZero() || ready.Before(qi.OldestPendingAt) {
				qi.OldestPendingAt = ready
			}
		}
	}
	out := make([]backend.QueueInfo, 0, len(infos))
	for _, name := range sortedKeys(infos) {
		out = append(out, *infos[name])
	}
	return out, nil
}

// PauseQueue stops Lease from taking from the queue.
func (m *Model) PauseQueue(ctx context.Context, queue string) error {
	return m.setPaused(ctx, queue, true)
}

// ResumeQueue lets Lease take from the queue again.
func (m *Model) ResumeQueue(ctx context.Context, queue string) error {
	return m.setPaused(ctx, queue, false)
}

func (m *Model) setPaused(ctx context.Context, queue string, paused bool) error {
	if queue == "" {
		return fmt.Errorf("pause or resume: empty queue name: %w", backend.ErrInvalid)
	}
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	now := m.now()
	m.use(queue, now)
	m.queues[queue].paused = paused
	if !paused {
		m.wake.Broadcast()
	}
	m.queueEvent(queue, now)
	return nil
}

// holds reports whether any task is in the queue.
func (m *Model) queueHasTasks(queue string) bool {
	for _, t := range m.tasks {
		if t.Queue == queue {
			return true
		}
	}
	return false
}

// DeleteQueue forgets a queue that holds no tasks.
func (m *Model) DeleteQueue(ctx context.Context, name string) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	if m.queues[name] == nil {
		return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotFound)
	}
	if m.queueHasTasks(name) {
		return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotEmpty)
	}
	delete(m.queues, name)
	m.queueEvent(name, m.now())
	return nil
}

// ForgetQueues forgets the empty, unpaused queues unused for unusedFor.
func (m *Model) ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error) {
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.end()
	now := m.now()
	if err := m.fenced(term, now); err != nil {
		return 0, err
	}
	limit := now.Add(-unusedFor)
	n := 0
	for _, name := range sortedKeys(m.queues) {
		q := m.queues[name]
		if q.paused || q.used.After(limit) || m.queueHasTasks(name) {
			continue
		}
		delete(m.queues, name)
		m.queueEvent(name, now)
		n++
	}
	return n, nil
}
