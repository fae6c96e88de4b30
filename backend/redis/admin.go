package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Cancel moves a task that is not final to canceled; see backend.Backend.
func (b *Backend) Cancel(ctx context.Context, id string) (*backend.Task, error) {
	q, err := b.queueOf(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := b.run(ctx, cancelScript, []string{b.k.task(q, id)}, itoa(nowMicros()), b.evArg(),
		b.k.cancelChannel(), b.k.queuePrefix(q), q, id)
	if err != nil {
		return nil, redisErr("cancel task "+id, err)
	}
	return b.taskReply("cancel", id, q, v)
}

// Retry sends a failed or canceled task back to pending; see backend.Backend.
func (b *Backend) Retry(ctx context.Context, id string) (*backend.Task, error) {
	q, err := b.queueOf(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := b.run(ctx, retryScript, []string{b.k.task(q, id)}, itoa(nowMicros()), b.evArg(),
		b.k.wakeChannel(), b.k.queuePrefix(q), q, id)
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
	q, err := b.queueOf(ctx, id)
	if err != nil {
		return err
	}
	v, err := b.run(ctx, deleteScript, []string{b.k.task(q, id)}, itoa(nowMicros()), b.evArg(),
		b.k.queuePrefix(q), q, id)
	if err != nil {
		return redisErr("delete task "+id, err)
	}
	switch code, _ := v.(int64); code {
	case 0:
		return fmt.Errorf("delete task %s: %w", id, backend.ErrNotFound)
	case 2:
		return fmt.Errorf("delete task %s: %w", id, backend.ErrNotFinal)
	}
	return nil
}

// Reclaim returns expired leases to pending (or fails them on their last
// attempt), promotes due delayed tasks of every queue and forgets workers
// whose heartbeat ran out. Any process may call it; the scripts make
// concurrent calls safe.
//
// TODO(redis branch): fence by term, take now from the server's TIME,
// stop promoting (Promote does), crash is not failure.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	if term != 0 {
		return 0, errNotImplemented("fenced Reclaim")
	}
	now := time.Now()
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	nowS := itoa(micros(now))
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := []any{nowS, b.evArg(), b.k.wakeChannel()}
		for _, q := range group {
			args = append(args, b.k.queuePrefix(q), q)
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
			n += int(k)
		}
	}
	if _, err := b.run(ctx, expireWorkersScript, []string{b.k.workers()}, nowS, b.k.eventsChannel(), b.k.workerPrefix()); err != nil {
		return n, redisErr("expire workers", err)
	}
	b.sweepLeases(now)
	b.pruneHistory(ctx, queues, now)
	return n, nil
}

// historyKeep is how long per-minute history is kept.
const historyKeep = 7 * 24 * time.Hour

// pruneHistory drops history minutes older than historyKeep, at most
// once an hour per process.
func (b *Backend) pruneHistory(ctx context.Context, queues []string, now time.Time) {
	b.queuesMu.Lock()
	due := now.Sub(b.prunedAt) > time.Hour
	if due {
		b.prunedAt = now
	}
	b.queuesMu.Unlock()
	if !due {
		return
	}
	cutoff := now.Add(-historyKeep).Unix()
	for _, q := range queues {
		key := b.k.queuePrefix(q) + sfxHistory
		fields, err := b.rdb.HKeys(ctx, key).Result()
		if err != nil {
			b.log.Warn("prune task history", "queue", q, "err", err)
			return
		}
		var old []string
		for _, f := range fields {
			minute, _, _ := strings.Cut(f, ":")
			if m, err := strconv.ParseInt(minute, 10, 64); err == nil && m < cutoff {
				old = append(old, f)
			}
		}
		if len(old) > 0 {
			_ = b.rdb.HDel(ctx, key, old...).Err()
		}
	}
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
	if err := checkName("queue", queue); err != nil {
		return err
	}
	if err := b.registerQueues(ctx, []string{queue}); err != nil {
		return err
	}
	flag := "0"
	if paused {
		flag = "1"
	}
	_, err := b.run(ctx, pauseScript, []string{b.k.meta(queue)}, itoa(nowMicros()), b.k.eventsChannel(), b.k.wakeChannel(), queue, flag)
	return redisErr("pause queue "+queue, err)
}
