package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// DeleteQueue forgets a queue that holds no tasks; see backend.Backend.
func (b *Backend) DeleteQueue(ctx context.Context, name string) error {
	if b.closed() {
		return errClosed
	}
	if err := checkName("queue", name); err != nil {
		return fmt.Errorf("redis: delete queue: %w: %w", err, backend.ErrInvalid)
	}
	known, err := detached(b, ctx, func(ctx context.Context) (bool, error) {
		return b.rdb.SIsMember(ctx, b.k.queues(), name).Result()
	}, nil)
	if err != nil {
		return redisErr("delete queue "+name, err)
	}
	if !known {
		return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotFound)
	}
	codes, err := b.forget(ctx, "", "0", "", []string{name})
	if err != nil {
		return redisErr("delete queue "+name, err)
	}
	if codes[0] == -2 {
		return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotEmpty)
	}
	b.forgotten([]string{name})
	return nil
}

// ForgetQueues forgets the queues that hold no tasks, are not paused and
// were not used for unusedFor; see backend.Backend. Fenced by term.
func (b *Backend) ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: forget queues: %w", err)
	}
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	if len(queues) == 0 {
		return 0, nil
	}
	lead, t := b.fenceArgs(term)
	codes, err := b.forget(ctx, lead, t, itoa(max(unusedFor, 0).Microseconds()), queues)
	if err != nil {
		return 0, fmt.Errorf("redis: forget queues: %w", err)
	}
	var gone []string
	for i, c := range codes {
		if c == 1 {
			gone = append(gone, queues[i])
		}
	}
	b.forgotten(gone)
	return len(gone), nil
}

// forget runs forget_queue.lua over queues, one call per slot, and
// returns its code per queue.
func (b *Backend) forget(ctx context.Context, lead, term, unused string, queues []string) ([]int64, error) {
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		histq := b.k.histQueues()
		if b.cluster {
			histq = ""
		}
		args := []any{b.offset(), b.evArg(), lead, term, unused, b.registryArg(), histq}
		for _, q := range group {
			args = append(args, b.qp(q), q)
		}
		calls[i] = &scriptCall{script: forgetQueueScript, keys: []string{b.k.meta(group[0])}, args: args}
	}
	b.runAll(ctx, calls, false)
	byQueue := map[string]int64{}
	for i, c := range calls {
		if c.err != nil {
			return nil, c.err
		}
		if n, ok := c.val.(int64); ok && n == -1 {
			return nil, fmt.Errorf("term %s: %w", term, backend.ErrNotLeader)
		}
		r, _ := c.val.([]any)
		if len(r) != len(groups[i]) {
			return nil, fmt.Errorf("unexpected reply %v", c.val)
		}
		for j, q := range groups[i] {
			byQueue[q], _ = r[j].(int64)
		}
	}
	out := make([]int64, len(queues))
	for i, q := range queues {
		out[i] = byQueue[q]
	}
	return out, nil
}

// forgotten takes forgotten queues out of the registry on a cluster (on
// one server the script did) and out of this process's cached list.
func (b *Backend) forgotten(queues []string) {
	if len(queues) == 0 {
		return
	}
	if b.cluster {
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.FlushTimeout)
		defer cancel()
		names := make([]any, len(queues))
		for i, q := range queues {
			names[i] = q
		}
		if err := b.rdb.SRem(ctx, b.k.queues(), names...).Err(); err != nil {
			b.log.Warn("forget queues", "queues", queues, "err", err)
		}
		if err := b.rdb.SAdd(ctx, b.k.histQueues(), names...).Err(); err != nil {
			b.log.Warn("keep the history of forgotten queues", "queues", queues, "err", err)
		}
	}
	b.queuesMu.Lock()
	b.queuesAt = time.Time{}
	b.queuesMu.Unlock()
}

// PruneHistory removes per-minute history older than olderThan from every
// known queue; see backend.Backend. Fenced by term.
func (b *Backend) PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error) {
	if err := b.upkeepBegin(ctx, term); err != nil {
		return 0, fmt.Errorf("redis: prune history: %w", err)
	}
	queues, err := b.historyQueues(ctx)
	if err != nil {
		return 0, err
	}
	lead, t := b.fenceArgs(term)
	groups := bySlot(b, queues, func(q string) string { return q })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := []any{b.offset(), lead, t, itoa(olderThan.Microseconds())}
		for _, q := range group {
			args = append(args, b.qp(q))
		}
		calls[i] = &scriptCall{script: pruneHistoryScript, keys: []string{b.k.meta(group[0])}, args: args}
	}
	n := 0
	b.runAll(ctx, calls, false)
	for _, c := range calls {
		if c.err != nil {
			return n, redisErr("prune history", c.err)
		}
		k, _ := c.val.(int64)
		if k < 0 {
			return n, fmt.Errorf("redis: prune history under term %d: %w", term, backend.ErrNotLeader)
		}
		n += int(k)
	}
	return n, nil
}

// historyQueues returns the queues that may have history: the known ones
// and the forgotten ones whose history is kept (see histKeep).
func (b *Backend) historyQueues(ctx context.Context) ([]string, error) {
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return nil, err
	}
	old, err := detached(b, ctx, func(ctx context.Context) ([]string, error) {
		return b.rdb.SMembers(ctx, b.k.histQueues()).Result()
	}, nil)
	if err != nil {
		return nil, redisErr("history", err)
	}
	for _, q := range old {
		if !contains(queues, q) {
			queues = append(queues, q)
		}
	}
	return queues, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
