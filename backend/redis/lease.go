package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Lease hands out ready tasks; see backend.Backend. When nothing is ready
// and req.Wait > 0 it sleeps until a wake message from any process says a
// queue got work, until the first delayed task of its queues is due, or
// at most Options.WakeFallback, and looks again.
func (b *Backend) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if req.Max < 1 {
		req.Max = 1
	}
	for _, q := range req.Queues {
		if err := checkName("queue", q); err != nil {
			return nil, err
		}
	}
	var deadline time.Time
	if req.Wait > 0 {
		deadline = time.Now().Add(req.Wait)
	}
	for {
		if b.closed() {
			return nil, errClosed
		}
		// Take the wake channel before looking, so that work arriving
		// between the look and the wait is not missed.
		wake := b.wakeChan()
		leased, nextDue, err := b.leaseOnce(ctx, req)
		if err != nil || len(leased) > 0 || deadline.IsZero() {
			return leased, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, nil
		}
		wait = min(wait, b.opts.WakeFallback)
		if !nextDue.IsZero() {
			wait = min(wait, max(time.Until(nextDue), time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil
		case <-b.stop:
			timer.Stop()
			return nil, errClosed
		}
		timer.Stop()
	}
}

// leaseOnce runs the lease script over the queues in order: one call on a
// single server, one call per run of same-slot queues on a cluster.
func (b *Backend) leaseOnce(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, time.Time, error) {
	now := time.Now()
	expires := now.Add(req.LeaseFor)
	var out []*backend.Task
	var nextDue time.Time
	for i := 0; i < len(req.Queues) && len(out) < req.Max; {
		j := i + 1
		for j < len(req.Queues) && b.slotOf(req.Queues[j]) == b.slotOf(req.Queues[i]) {
			j++
		}
		args := []any{itoa(micros(now)), itoa(micros(expires)), req.WorkerID, req.Max - len(out),
			b.evArg(), b.k.wakeChannel()}
		for _, q := range req.Queues[i:j] {
			args = append(args, b.qp(q), q)
		}
		v, err := b.run(ctx, leaseScript, []string{b.k.meta(req.Queues[i])}, args...)
		if err != nil {
			return out, time.Time{}, redisErr("lease", err)
		}
		tasks, next, err := b.decodeLeased(v, req.WorkerID, now, expires)
		if err != nil {
			return out, time.Time{}, err
		}
		out = append(out, tasks...)
		if !next.IsZero() && (nextDue.IsZero() || next.Before(nextDue)) {
			nextDue = next
		}
		i = j
	}
	return out, nextDue, nil
}

func (b *Backend) decodeLeased(v any, worker string, now, expires time.Time) ([]*backend.Task, time.Time, error) {
	top, ok := v.([]any)
	if !ok || len(top) != 2 {
		return nil, time.Time{}, fmt.Errorf("redis: lease: unexpected reply %T", v)
	}
	rows, _ := top[0].([]any)
	next, _ := top[1].(string)
	out := make([]*backend.Task, 0, len(rows))
	started := now.Truncate(time.Microsecond).UTC()
	for _, r := range rows {
		row, _ := r.([]any)
		if len(row) != 4 {
			return nil, time.Time{}, fmt.Errorf("redis: lease: unexpected row %v", r)
		}
		q, _ := row[0].(string)
		id, _ := row[1].(string)
		tok, _ := row[2].(string)
		kv, _ := row[3].([]any)
		t, err := decodeTask(id, q, kv)
		if err != nil {
			return nil, time.Time{}, err
		}
		// The fields are as they were before the lease; apply it.
		t.State = backend.StateProcessing
		t.Attempt++
		t.WorkerID = worker
		t.LeaseToken, _ = strconv.ParseUint(tok, 10, 64)
		t.LeaseExpiresAt = expires.Truncate(time.Microsecond).UTC()
		t.StartedAt = started
		t.Progress = nil
		t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: worker, StartedAt: started})
		b.rememberLease(id, q, expires)
		out = append(out, t)
	}
	return out, fromMicros(next), nil
}

// Extend renews leases the worker still holds; see backend.Backend.
func (b *Backend) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	results := make([]backend.ExtendResult, len(leases))
	expires := time.Now().Add(leaseFor)
	type item struct {
		i     int
		queue string
	}
	items := make([]item, 0, len(leases))
	for i, l := range leases {
		results[i] = backend.ExtendResult{TaskID: l.TaskID}
		q, err := b.queueOf(ctx, l.TaskID)
		if err != nil {
			if isNotFound(err) {
				continue // gone: not held
			}
			return nil, err
		}
		items = append(items, item{i, q})
	}
	groups := bySlot(b, items, func(it item) string { return it.queue })
	calls := make([]*scriptCall, len(groups))
	for k, items := range groups {
		args := []any{itoa(micros(expires))}
		for _, it := range items {
			l := leases[it.i]
			args = append(args, b.qp(it.queue), l.TaskID, strconv.FormatUint(l.Token, 10))
		}
		calls[k] = &scriptCall{script: extendScript, keys: []string{b.k.meta(items[0].queue)}, args: args}
	}
	if len(calls) > 0 {
		b.runAll(ctx, calls, false)
	}
	for k, items := range groups {
		if calls[k].err != nil {
			return nil, redisErr("extend leases", calls[k].err)
		}
		codes, _ := calls[k].val.([]any)
		for j, it := range items {
			var code int64
			if j < len(codes) {
				code, _ = codes[j].(int64)
			}
			switch code {
			case 1:
				results[it.i].Held = true
				b.rememberLease(leases[it.i].TaskID, it.queue, expires)
			case 2:
				results[it.i].Canceled = true
				b.forgetLease(leases[it.i].TaskID)
			default:
				b.forgetLease(leases[it.i].TaskID)
			}
		}
	}
	return results, nil
}
