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
	fields := make([]string, len(kv))
	for i, f := range kv {
		fields[i], _ = f.(string)
	}
	return decodeTask(id, q, fields)
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
// term (see lead.go). On one server it visits only the queues the due
// index names (see upkeep); on a cluster every known queue.
func (b *Backend) Reclaim(ctx context.Context, term uint64) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: reclaim: %w", err)
	}
	lead, t := b.fenceArgs(term)
	n, err := b.upkeep(ctx, "reclaim", reclaimScript, term,
		[]any{b.offset(), b.evArg(), b.k.wakeChannel(), b.opts.MaxLeaseLosses, lead, t})
	if err != nil {
		return n, err
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

// Promote moves the due scheduled and retrying tasks to pending; see
// backend.Backend. Fenced by term. It visits queues as Reclaim does.
func (b *Backend) Promote(ctx context.Context, term uint64) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: promote: %w", err)
	}
	lead, t := b.fenceArgs(term)
	return b.upkeep(ctx, "promote", promoteScript, term, []any{b.offset(), b.evArg(), b.k.wakeChannel(), lead, t})
}

// Upkeep's cost follows the queues that have work due, not the queues
// that exist. On one server the due index (see prelude.lua) names them:
// Reclaim and Promote take at most dueBatch queues per script call from
// it, and call again while a call took that many. A walk over every known
// queue, which also sets each one's place in the index, runs at the first
// call under a term and then every walkEvery: it fills the index of a
// store written by a version without one, and bounds how long a queue
// the index lacked for any reason would wait. On a cluster the index's
// slot is not the queues', so every call walks.
const (
	dueBatch  = 500
	dueRounds = 20 // calls per upkeep run at most: 10,000 queues
	walkEvery = 5 * time.Minute
)

// walk is when an upkeep script last walked every queue, and under
// which term.
type walk struct {
	term uint64
	at   time.Time
}

// upkeep runs reclaim.lua or promote.lua (script, named what) with the
// arguments head, over the due queues or over every known queue (see
// above), and returns the sum of the counts the calls report.
func (b *Backend) upkeep(ctx context.Context, what string, script *script, term uint64, head []any) (int, error) {
	if !b.cluster && !b.walkDue(what, term) {
		n := 0
		for range dueRounds {
			args := append(append([]any{}, head...), b.k.due(), b.k.prefix, dueBatch)
			v, err := b.run(ctx, script, []string{b.k.due()}, args...)
			if err != nil {
				return n, redisErr(what, err)
			}
			k, visited, err := upkeepReply(what, term, v)
			n += k
			if err != nil || visited < dueBatch {
				return n, err
			}
		}
		return n, nil
	}
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := append(append([]any{}, head...), b.dueArg(), b.k.prefix, dueBatch)
		for _, q := range group {
			args = append(args, b.qp(q), q)
		}
		calls[i] = &scriptCall{script: script, keys: []string{b.k.meta(group[0])}, args: args}
	}
	n := 0
	if len(calls) > 0 {
		b.runAll(ctx, calls, false)
		for _, c := range calls {
			if c.err != nil {
				return n, redisErr(what, c.err)
			}
			k, _, err := upkeepReply(what, term, c.val)
			n += k
			if err != nil {
				return n, err
			}
		}
	}
	b.walked(what, term)
	return n, nil
}

// walkDue reports whether the next run of the upkeep script what walks
// every queue: the first under term, or walkEvery after the last walk.
func (b *Backend) walkDue(what string, term uint64) bool {
	b.walksMu.Lock()
	defer b.walksMu.Unlock()
	w, ok := b.walks[what]
	return !ok || w.term != term || time.Since(w.at) >= walkEvery
}

func (b *Backend) walked(what string, term uint64) {
	b.walksMu.Lock()
	defer b.walksMu.Unlock()
	if b.walks == nil {
		b.walks = map[string]walk{}
	}
	b.walks[what] = walk{term: term, at: time.Now()}
}

// upkeepReply reads the {count, queues visited} reply of reclaim.lua and
// promote.lua, or their -1 for a term that is not the leader's.
func upkeepReply(what string, term uint64, v any) (n, visited int, err error) {
	if k, ok := v.(int64); ok && k < 0 {
		return 0, 0, fmt.Errorf("redis: %s under term %d: %w", what, term, backend.ErrNotLeader)
	}
	r, _ := v.([]any)
	if len(r) != 2 {
		return 0, 0, fmt.Errorf("redis: %s: unexpected reply %v", what, v)
	}
	k, _ := r[0].(int64)
	q, _ := r[1].(int64)
	return int(k), int(q), nil
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
