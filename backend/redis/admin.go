package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Cancel moves a task that is not final to canceled; see backend.Backend.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	q, err := b.indexedQueue(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := b.run(ctx, cancelScript, []string{b.k.task(q, id)}, b.offset(), b.evArg(),
		b.k.cancelChannel(), b.qp(q), q, id)
	if err != nil {
		return nil, redisErr("cancel task "+id, err)
	}
	return b.taskReply("cancel", id, q, v)
}

// Retry sends a failed or canceled task back to pending; see backend.Backend.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	q, err := b.indexedQueue(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := b.run(ctx, retryScript, []string{b.k.task(q, id)}, b.offset(), b.evArg(),
		b.k.wakeChannel(), b.qp(q), q, id)
	if err != nil {
		return nil, redisErr("retry task "+id, err)
	}
	return b.taskReply("retry", id, q, v)
}

// taskReply reads the {code, fields} answer of cancel and retry.
func (b *Backend) taskReply(what, id, q string, v any) (*backend.Task, error) {
	r, _ := v.([]any)
	if len(r) == 0 {
		return nil, fmt.Errorf("redis: %s task %s: unexpected reply %v", what, id, v)
	}
	switch code, _ := r[0].(int64); code {
	case 0:
		return nil, fmt.Errorf("%s task %s: %w", what, id, backend.ErrNotFound)
	case 2:
		if what == "cancel" {
			return nil, fmt.Errorf("cancel task %s: %w", id, backend.ErrFinal)
		}
		return nil, fmt.Errorf("retry task %s: %w", id, backend.ErrNotFinal)
	}
	kv, _ := r[1].([]any)
	return decodeTask(id, q, kv)
}

// Delete removes a final task; see backend.Backend.
func (b *Backend) Delete(ctx context.Context, id string) error {
	q, err := b.indexedQueue(ctx, id)
	if err != nil {
		return err
	}
	v, err := b.run(ctx, deleteScript, []string{b.k.task(q, id)}, b.offset(), b.evArg(),
		b.qp(q), q, id, b.idsArg())
	if err != nil {
		return redisErr("delete task "+id, err)
	}
	switch code, _ := v.(int64); code {
	case 0:
		return fmt.Errorf("delete task %s: %w", id, backend.ErrNotFound)
	case 2:
		return fmt.Errorf("delete task %s: %w", id, backend.ErrNotFinal)
	}
	if b.cluster {
		b.forgetIDs([]string{id})
	}
	return nil
}

// Reclaim takes back expired leases (see backend.Backend and
// reclaim.lua) and forgets workers whose heartbeat ran out. Fenced by
// term (see lead.go). Its cost follows the known queues, one script call
// per slot in one pipeline; ForgetQueues keeps that set to the queues in
// use.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: reclaim: %w", err)
	}
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	lead, t := b.fenceArgs(term)
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := []any{b.offset(), b.evArg(), b.k.wakeChannel(), b.opts.MaxLeaseLosses, lead, t}
		for _, q := range group {
			args = append(args, b.qp(q), q)
		}
		calls[i] = &scriptCall{script: reclaimScript, keys: []string{b.k.meta(group[0])}, args: args}
	}
	n := 0
	if len(calls) > 0 {
		b.runAll(ctx, calls, false)
		for _, c := range calls {
			if c.err != nil {
				return n, redisErr("reclaim", c.err)
			}
			k, _ := c.val.(int64)
			if k < 0 {
				return n, fmt.Errorf("redis: reclaim under term %d: %w", term, backend.ErrNotLeader)
			}
			n += int(k)
		}
	}
	v, err := b.run(ctx, expireWorkersScript, []string{b.k.workers()}, b.offset(), b.k.eventsChannel(), b.k.workerPrefix(), lead, t)
	if err != nil {
		return n, redisErr("expire workers", err)
	}
	if k, _ := v.(int64); k < 0 {
		return n, fmt.Errorf("redis: reclaim under term %d: %w", term, backend.ErrNotLeader)
	}
	b.sweepLeases(time.Now())
	return n, nil
}

// Promote moves the due scheduled and retrying tasks of every known
// queue to pending; see backend.Backend. Fenced by term.
func (b *Backend) Promote(ctx context.Context, term uint64) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: promote: %w", err)
	}
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	lead, t := b.fenceArgs(term)
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := []any{b.offset(), b.evArg(), b.k.wakeChannel(), lead, t}
		for _, q := range group {
			args = append(args, b.qp(q), q)
		}
		calls[i] = &scriptCall{script: promoteScript, keys: []string{b.k.meta(group[0])}, args: args}
	}
	n := 0
	if len(calls) > 0 {
		b.runAll(ctx, calls, false)
		for _, c := range calls {
			if c.err != nil {
				return n, redisErr("promote", c.err)
			}
			k, _ := c.val.(int64)
			if k < 0 {
				return n, fmt.Errorf("redis: promote under term %d: %w", term, backend.ErrNotLeader)
			}
			n += int(k)
		}
	}
	return n, nil
}

// PauseQueue stops Lease from taking from the queue.
func (b *Backend) PauseQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, queue, true)
}

// ResumeQueue lets Lease take from the queue again, waking idle workers.
func (b *Backend) ResumeQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, queue, false)
}

func (b *Backend) setPaused(ctx context.Context, queue string, paused bool) error {
	if b.closed() {
		return errClosed
	}
	if err := checkName("queue", queue); err != nil {
		return fmt.Errorf("redis: pause or resume: %w: %w", err, backend.ErrInvalid)
	}
	if b.cluster {
		if err := b.registerQueues(ctx, []string{queue}); err != nil {
			return err
		}
	}
	flag := "0"
	if paused {
		flag = "1"
	}
	_, err := b.run(ctx, pauseScript, []string{b.k.meta(queue)}, b.offset(), b.k.eventsChannel(), b.k.wakeChannel(), queue, flag, b.registryArg())
	b.queuesMu.Lock()
	b.queuesAt = time.Time{}
	b.queuesMu.Unlock()
	return redisErr("pause queue "+queue, err)
}
