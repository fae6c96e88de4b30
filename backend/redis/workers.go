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
func (b *Backend) Heartbeat(ctx context.Context, w backend.WorkerInfo, ttl time.Duration) (backend.HeartbeatReply, error) {
	now := time.Now()
	w.LastHeartbeat = now.UTC()
	info, err := json.Marshal(w)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("encode worker %s: %w", w.ID, err)
	}
	keep := 2*ttl + time.Minute
	v, err := b.run(ctx, heartbeatScript, []string{b.k.workers(), b.k.worker(w.ID)},
		itoa(micros(now.Add(ttl))), keep.Milliseconds(), string(info), b.k.eventsChannel(), w.ID, itoa(micros(now)))
	if err != nil {
		return backend.HeartbeatReply{}, redisErr("heartbeat of worker "+w.ID, err)
	}
	return backend.HeartbeatReply{StopRequested: v == "1"}, nil
}

// Unregister removes a worker from the registry.
// TODO(redis branch): refuse a live worker's wrong secret (ErrWorkerTaken),
// in Heartbeat too.
func (b *Backend) Unregister(ctx context.Context, workerID, secret string) error {
	_, err := b.run(ctx, unregisterScript, []string{b.k.workers(), b.k.worker(workerID)},
		itoa(nowMicros()), b.k.eventsChannel(), workerID)
	return redisErr("unregister worker "+workerID, err)
}

// Workers lists the workers whose heartbeat has not run out.
func (b *Backend) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	v, err := b.run(ctx, workersScript, []string{b.k.workers()}, itoa(nowMicros()), b.k.workerPrefix())
	if err != nil {
		return nil, redisErr("list workers", err)
	}
	r, _ := v.([]any)
	out := make([]backend.WorkerInfo, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		w, err := decodeWorker(r[i], r[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func decodeWorker(info, flag any) (backend.WorkerInfo, error) {
	s, _ := info.(string)
	var w backend.WorkerInfo
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return w, fmt.Errorf("redis: decode worker info: %w", err)
	}
	if f, _ := flag.(string); f != "" {
		w.Stopping = true
	}
	return w, nil
}

// RequestStop asks a live worker to drain and stop.
func (b *Backend) RequestStop(ctx context.Context, workerID string) error {
	v, err := b.run(ctx, requestStopScript, []string{b.k.workers(), b.k.worker(workerID)},
		itoa(nowMicros()), b.k.eventsChannel(), workerID)
	if err != nil {
		return redisErr("request stop of worker "+workerID, err)
	}
	if n, _ := v.(int64); n != 1 {
		return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
	}
	return nil
}
