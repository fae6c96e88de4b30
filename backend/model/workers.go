package model

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Heartbeat registers or refreshes a worker.
func (m *Model) Heartbeat(ctx context.Context, w backend.WorkerInfo, ttl time.Duration) (backend.HeartbeatReply, error) {
	if ttl <= 0 || w.ID == "" {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %q for %s: %w", w.ID, ttl, backend.ErrInvalid)
	}
	if err := m.begin(ctx); err != nil {
		return backend.HeartbeatReply{}, err
	}
	defer m.end()
	now := m.now()
	old := m.workers[w.ID]
	live := old != nil && now.Before(old.expires)
	if live && old.info.Secret != w.Secret {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", w.ID, backend.ErrWorkerTaken)
	}
	rec := &workerState{info: w, expires: now.Add(ttl)}
	rec.info.LastHeartbeat = now
	if live {
		rec.stop = old.stop
	}
	rec.info.Stopping = rec.info.Stopping || rec.stop
	m.workers[w.ID] = rec
	if !live || !SameWorker(old.info, rec.info) {
		m.workerEvent(rec.info, false, now)
	}
	return backend.HeartbeatReply{StopRequested: rec.stop}, nil
}

// SameWorker reports whether a and b say the same about a worker, apart
// from LastHeartbeat and Secret (nil and empty lists are equal).
func SameWorker(a, b backend.WorkerInfo) bool {
	return a.ID == b.ID && a.Host == b.Host && a.PID == b.PID && slices.Equal(a.Queues, b.Queues) &&
		slices.Equal(a.Types, b.Types) && a.Concurrency == b.Concurrency && slices.Equal(a.Running, b.Running) &&
		a.StartedAt.Equal(b.StartedAt) && a.Stopping == b.Stopping
}

// workerEvent sends a worker_update without the secret.
func (m *Model) workerEvent(info backend.WorkerInfo, gone bool, now time.Time) {
	wi := PublicWorker(info)
	if gone {
		wi.Stopping = true
	}
	m.publish(backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: now})
}

// PublicWorker returns a copy of info fit to show: no Secret.
func PublicWorker(info backend.WorkerInfo) backend.WorkerInfo {
	info.Secret = ""
	info.Queues = slices.Clone(info.Queues)
	info.Types = slices.Clone(info.Types)
	info.Running = slices.Clone(info.Running)
	return info
}

// Unregister removes a worker from the registry.
func (m *Model) Unregister(ctx context.Context, workerID, secret string) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	now := m.now()
	w := m.workers[workerID]
	if w == nil {
		return nil
	}
	if now.Before(w.expires) && w.info.Secret != secret {
		return fmt.Errorf("unregister worker %s: %w", workerID, backend.ErrWorkerTaken)
	}
	delete(m.workers, workerID)
	m.workerEvent(w.info, true, now)
	return nil
}

// Workers lists the live workers by ID.
func (m *Model) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	if err := m.read(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	now := m.now()
	out := []backend.WorkerInfo{}
	for _, id := range sortedKeys(m.workers) {
		if w := m.workers[id]; now.Before(w.expires) {
			out = append(out, PublicWorker(w.info))
		}
	}
	return out, nil
}

// RequestStop asks a live worker to drain and stop.
func (m *Model) RequestStop(ctx context.Context, workerID string) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	now := m.now()
	w := m.workers[workerID]
	if w == nil || !now.Before(w.expires) {
		return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
	}
	if !w.stop {
		w.stop, w.info.Stopping = true, true
		m.workerEvent(w.info, false, now)
	}
	return nil
}

// Lead acquires, renews or reports upkeep leadership.
func (m *Model) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	if holder == "" || ttl <= 0 {
		return backend.Leadership{}, fmt.Errorf("lead: holder %q, ttl %s: %w", holder, ttl, backend.ErrInvalid)
	}
	if err := m.begin(ctx); err != nil {
		return backend.Leadership{}, err
	}
	defer m.end()
	now := m.now()
	l := &m.leader
	live := l.holder != "" && now.Before(l.until)
	if live && l.holder != holder {
		return backend.Leadership{Holder: l.holder, Term: l.term, Until: l.until}, nil
	}
	if !live {
		l.holder, l.term = holder, l.term+1
	}
	l.until = now.Add(ttl)
	return backend.Leadership{Holder: l.holder, Term: l.term, Held: true, Until: l.until}, nil
}

// Resign gives up leadership held by holder under term.
func (m *Model) Resign(ctx context.Context, holder string, term uint64) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.end()
	l := &m.leader
	if l.holder == holder && l.term == term && m.now().Before(l.until) {
		l.holder, l.until = "", time.Time{}
	}
	return nil
}
