package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/leasewait"
)

// Lease hands out ready tasks; see backend.Backend. When nothing is ready
// and req.Wait > 0 it sleeps until a wake message from any process says a
// queue got work, until the first delayed task of its queues is due, or
// at most Options.WakeFallback, and looks again.
func (b *Backend) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if req.LeaseFor <= 0 {
		return nil, fmt.Errorf("redis: lease for %s: %w", req.LeaseFor, backend.ErrInvalid)
	}
	if b.closed() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Max < 1 {
		req.Max = 1
	}
	for _, q := range req.Queues {
		if err := checkName("queue", q); err != nil {
			return nil, fmt.Errorf("redis: lease: %w: %w", err, backend.ErrInvalid)
		}
	}
	req.Queues = dedupe(req.Queues)
	req.Types = dedupe(req.Types)
	// The wait is the one every backend runs (internal/leasewait); the
	// fallback bounds a sleep whose wake message was lost.
	cfg := leasewait.Config{Wake: b.wake, Stop: b.stop, Closed: errClosed, Fallback: b.opts.WakeFallback}
	return leasewait.Run(ctx, req.Wait, cfg, func(ctx context.Context) ([]*backend.Task, time.Duration, error) {
		if b.closed() {
			return nil, 0, errClosed
		}
		leased, untilDue, err := b.leaseDetached(ctx, req)
		if ctx.Err() != nil && (errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ctx.Err())) {
			// The caller left: it gets nothing, as when its ctx ends
			// while it waits (leasewait.Run returns at once on the ended
			// ctx). What the script leased meanwhile, if anything, is
			// handed back (see leaseDetached).
			return nil, 0, nil
		}
		return leased, untilDue, err
	})
}

// leaseDetached runs leaseOnce so that Lease returns when ctx ends. If
// the script leased tasks after the caller left, nobody will run them:
// they are released at once, back to the front of their priority, rather
// than left to expire.
func (b *Backend) leaseDetached(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, time.Duration, error) {
	type result struct {
		tasks    []*backend.Task
		untilDue time.Duration
	}
	r, err := detached(b, ctx, func(ctx context.Context) (result, error) {
		tasks, d, err := b.leaseOnce(ctx, req)
		if err != nil && len(tasks) > 0 {
			// A cluster call that failed after an earlier slot leased:
			// those tasks go back too, as nobody is told of them.
			b.handBack(tasks)
			tasks = nil
		}
		return result{tasks, d}, err
	}, func(r result) { b.handBack(r.tasks) })
	return r.tasks, r.untilDue, err
}

// handBack releases leased tasks whose caller is gone.
func (b *Backend) handBack(tasks []*backend.Task) {
	for _, t := range tasks {
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.FlushTimeout)
		if err := b.Release(ctx, t.Ref()); err != nil {
			b.log.Warn("hand back a task leased for a caller that left", "task", t.ID, "err", err)
		}
		cancel()
	}
}

// leaseOnce runs the lease script over the queues in order: one call on a
// single server, one call per run of same-slot queues on a cluster. When
// it leases nothing, untilDue is how long, by the backend's clock, until
// the first delayed task of these queues is due (0 when none is).
func (b *Backend) leaseOnce(ctx context.Context, req backend.LeaseRequest) (out []*backend.Task, untilDue time.Duration, err error) {
	off := b.offset()
	leaseFor := itoa(req.LeaseFor.Microseconds())
	secrets := make([]any, req.Max)
	for i := range secrets {
		secrets[i] = newSecret()
	}
	for i := 0; i < len(req.Queues) && len(out) < req.Max; {
		j := i + 1
		for j < len(req.Queues) && b.slotOf(req.Queues[j]) == b.slotOf(req.Queues[i]) {
			j++
		}
		want := req.Max - len(out)
		args := make([]any, 0, 9+len(req.Types)+want+2*(j-i))
		args = append(args, off, leaseFor, req.WorkerID, want, b.evArg(), b.k.wakeChannel(), b.dueArg(), len(req.Types))
		for _, ty := range req.Types {
			args = append(args, ty)
		}
		args = append(args, want)
		args = append(args, secrets[len(out):]...)
		for _, q := range req.Queues[i:j] {
			args = append(args, b.qp(q), q)
		}
		v, err := b.send(ctx, leaseScript, []string{b.k.meta(req.Queues[i])}, args...)
		if err != nil {
			return out, 0, redisErr("lease", err)
		}
		tasks, due, err := b.decodeLeased(v, req.WorkerID, req.LeaseFor, secrets[len(out):])
		if err != nil {
			return out, 0, err
		}
		out = append(out, tasks...)
		if due > 0 && (untilDue == 0 || due < untilDue) {
			untilDue = due
		}
		i = j
	}
	return out, untilDue, nil
}

// decodeLeased reads the lease script's reply: the tasks, and how long
// until the first delayed task is due (at least 1ms; 0 when none is).
// The n-th task leased holds the n-th of secrets.
func (b *Backend) decodeLeased(v any, worker string, leaseFor time.Duration, secrets []any) ([]*backend.Task, time.Duration, error) {
	top, ok := v.([]any)
	if !ok || len(top) != 3 {
		return nil, 0, fmt.Errorf("redis: lease: unexpected reply %T", v)
	}
	packed, _ := top[0].(string)
	next, _ := top[1].(string)
	nowS, _ := top[2].(string)
	started := fromMicros(nowS)
	var untilDue time.Duration
	if due := fromMicros(next); !due.IsZero() {
		untilDue = max(due.Sub(started), time.Millisecond)
	}
	if packed == "" {
		return nil, untilDue, nil
	}
	expires := started.Add(leaseFor.Truncate(time.Microsecond))
	// This process's memory of its leases is swept by its own clock.
	localExpiry := time.Now().Add(leaseFor)
	u := unpacker{s: packed}
	n := u.array()
	if n > len(secrets) {
		return nil, 0, fmt.Errorf("redis: lease: %d tasks for %d secrets", n, len(secrets))
	}
	out := make([]*backend.Task, 0, n)
	var kv []string
	for i := range n {
		if u.array() != 4 && u.err == nil {
			u.err = errPacked
		}
		q, id, tok := strings.Clone(u.str()), strings.Clone(u.str()), u.str()
		kv = kv[:0]
		for range u.array() {
			kv = append(kv, u.str())
		}
		if u.err != nil {
			return nil, 0, fmt.Errorf("redis: lease: %w", u.err)
		}
		t, err := decodeTask(id, q, kv)
		if err != nil {
			return nil, 0, err
		}
		// The fields are as they were before the lease; apply it.
		t.State = backend.StateProcessing
		t.Attempt++
		t.WorkerID = worker
		t.LeaseToken, _ = strconv.ParseUint(tok, 10, 64)
		t.LeaseSecret, _ = secrets[i].(string)
		t.LeaseExpiresAt = expires
		t.StartedAt = started
		t.Progress = nil
		t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: worker, StartedAt: started})
		b.rememberLease(id, q, localExpiry)
		out = append(out, t)
	}
	if u.s != "" {
		return nil, 0, fmt.Errorf("redis: lease: %w (%d bytes left over)", errPacked, len(u.s))
	}
	return out, untilDue, nil
}

// Extend renews leases the worker still holds; see backend.Backend.
func (b *Backend) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	if leaseFor <= 0 {
		return nil, fmt.Errorf("redis: extend for %s: %w", leaseFor, backend.ErrInvalid)
	}
	if b.closed() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([]backend.ExtendResult, len(leases))
	// Remembered leases are swept by this host's clock: a local memory.
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
	// A second pass looks up, in the id index, the tasks not found in the
	// queue this process remembered (deleted, and the id used again).
	for pass := 0; len(items) > 0 && pass < 2; pass++ {
		var again []item
		groups := bySlot(b, items, func(it item) string { return it.queue })
		calls := make([]*scriptCall, len(groups))
		for k, items := range groups {
			args := []any{b.offset(), itoa(leaseFor.Microseconds()), workerID, b.dueArg()}
			for _, it := range items {
				l := leases[it.i]
				args = append(args, b.qp(it.queue), it.queue, l.TaskID, leaseField(l))
			}
			calls[k] = &scriptCall{script: extendScript, keys: []string{b.k.meta(items[0].queue)}, args: args}
		}
		b.runAll(ctx, calls, false)
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
				case 3:
					b.forgetLease(leases[it.i].TaskID)
					if pass == 0 {
						if q, err := b.indexedQueue(ctx, leases[it.i].TaskID); err == nil && q != it.queue {
							again = append(again, item{it.i, q})
						}
					}
				default:
					b.forgetLease(leases[it.i].TaskID)
				}
			}
		}
		items = again
	}
	return results, nil
}

// newSecret returns a lease secret: 128 random bits in hex.
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// dedupe returns xs without repeats, in the order of first appearance.
func dedupe(xs []string) []string {
	if len(xs) < 2 {
		return xs
	}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
