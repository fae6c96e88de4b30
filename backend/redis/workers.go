package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Heartbeat registers or refreshes a worker for ttl; see backend.Backend.
// The info is stored without its secret (kept apart, to compare) and
// without its heartbeat time (the script stamps it with the backend's
// clock), so that an identical heartbeat finds the info unchanged and
// sends no event.
func (b *Backend) Heartbeat(ctx context.Context, w backend.WorkerInfo, ttl time.Duration) (backend.HeartbeatReply, error) {
	if ttl <= 0 || w.ID == "" {
		return backend.HeartbeatReply{}, fmt.Errorf("redis: heartbeat of worker %q for %s: %w", w.ID, ttl, backend.ErrInvalid)
	}
	secret, stopping := w.Secret, w.Stopping
	w.Secret, w.LastHeartbeat, w.Stopping = "", time.Time{}, false
	info, err := json.Marshal(w)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("encode worker %s: %w", w.ID, err)
	}
	// The canonical form: nil and empty lists are the same info.
	c := w
	c.Queues, c.Types, c.Running = nonEmpty(c.Queues), nonEmpty(c.Types), nonEmpty(c.Running)
	canon, err := json.Marshal(c)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("encode worker %s: %w", w.ID, err)
	}
	flag := "0"
	if stopping {
		flag = "1"
	}
	keep := 2*ttl + time.Minute
	v, err := b.run(ctx, heartbeatScript, []string{b.k.workers(), b.k.worker(w.ID)},
		b.offset(), itoa(ttl.Microseconds()), keep.Milliseconds(), string(info), string(canon), flag,
		b.k.eventsChannel(), w.ID, secret)
	if err != nil {
		return backend.HeartbeatReply{}, redisErr("heartbeat of worker "+w.ID, err)
	}
	r, _ := v.([]any)
	if len(r) != 2 {
		return backend.HeartbeatReply{}, fmt.Errorf("redis: heartbeat of worker %s: unexpected reply %v", w.ID, v)
	}
	if code, _ := r[1].(int64); code < 0 {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", w.ID, backend.ErrWorkerTaken)
	}
	return backend.HeartbeatReply{StopRequested: r[0] == "1"}, nil
}

func nonEmpty(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// Unregister removes a worker from the registry; see backend.Backend.
func (b *Backend) Unregister(ctx context.Context, workerID, secret string) error {
	v, err := b.run(ctx, unregisterScript, []string{b.k.workers(), b.k.worker(workerID)},
		b.offset(), b.k.eventsChannel(), workerID, secret)
	if err != nil {
		return redisErr("unregister worker "+workerID, err)
	}
	if code, _ := v.(int64); code < 0 {
		return fmt.Errorf("unregister worker %s: %w", workerID, backend.ErrWorkerTaken)
	}
	return nil
}

// Workers lists the workers whose heartbeat has not run out.
func (b *Backend) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	v, err := b.run(ctx, workersScript, []string{b.k.workers()}, b.offset(), b.k.workerPrefix())
	if err != nil {
		return nil, redisErr("list workers", err)
	}
	r, _ := v.([]any)
	out := make([]backend.WorkerInfo, 0, len(r)/3)
	for i := 0; i+2 < len(r); i += 3 {
		w, err := decodeWorker(r[i], r[i+1], r[i+2])
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// decodeWorker builds a worker's info from what the scripts store: its
// JSON, the stop flag and the last heartbeat µs.
func decodeWorker(info, flag, hb any) (backend.WorkerInfo, error) {
	s, _ := info.(string)
	var w backend.WorkerInfo
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return w, fmt.Errorf("redis: decode worker info: %w", err)
	}
	// "1" stopping, "gone" unregistered or expired: Stopping either way.
	if f, _ := flag.(string); f != "" {
		w.Stopping = true
	}
	if s, _ := hb.(string); s != "" {
		w.LastHeartbeat = fromMicros(s)
	}
	return w, nil
}

// RequestStop asks a live worker to drain and stop.
func (b *Backend) RequestStop(ctx context.Context, workerID string) error {
	v, err := b.run(ctx, requestStopScript, []string{b.k.workers(), b.k.worker(workerID)},
		b.offset(), b.k.eventsChannel(), workerID)
	if err != nil {
		return redisErr("request stop of worker "+workerID, err)
	}
	if n, _ := v.(int64); n != 1 {
		return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
	}
	return nil
}
