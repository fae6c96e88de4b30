package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/taskmill/taskmill/backend"
)

// Task ids are unique across every queue. The id index, one hash "tm:ids"
// of id → queue, holds every stored task's id; it also finds a task's
// queue in one read (a task's keys carry its queue's hash tag).
//
// On one server (or a Sentinel-managed master) enqueue.lua checks the
// index and adds the ids in the same script that stores the tasks, and
// delete.lua and purge.lua remove them: atomic. On a cluster the index
// lives in its own slot, which no queue script may touch, so Enqueue
// claims the ids first (claim_ids.lua: all or none), runs the queue
// scripts, and then releases the claims of the tasks that were not
// stored; Delete and Purge remove the ids after the tasks. Between those
// steps a process can die: then an id stays claimed without a task (it
// cannot be used again; a lookup of it finds no task, ErrNotFound), never
// the other way round (a stored task whose id is free). A claim made for
// an Enqueue whose outcome is unknown (ErrUnknownOutcome) stays.

// claimIDs claims the tasks' ids in the index; ErrDuplicate, nothing
// claimed, when one exists.
func (b *Backend) claimIDs(ctx context.Context, tasks []*backend.Task) error {
	args := make([]any, 0, 2*len(tasks))
	for _, t := range tasks {
		args = append(args, t.ID, t.Queue)
	}
	v, err := b.run(ctx, claimIDsScript, []string{b.k.ids()}, args...)
	if err != nil {
		return redisErr("enqueue: claim task ids", err)
	}
	if dup, _ := v.(string); dup != "" {
		return fmt.Errorf("redis: enqueue: task id %s already exists: %w", dup, backend.ErrDuplicate)
	}
	return nil
}

// settleClaims releases the claims of tasks an Enqueue did not store:
// every one when it failed for sure, the duplicates of unique keys when
// it succeeded, none when its outcome is unknown.
func (b *Backend) settleClaims(tasks []*backend.Task, results []backend.EnqueueResult, err error) {
	var free []string
	switch {
	case err != nil && errors.Is(err, ErrUnknownOutcome):
		return
	case err != nil:
		for _, t := range tasks {
			free = append(free, t.ID)
		}
	default:
		for i, r := range results {
			if r.Duplicate {
				free = append(free, tasks[i].ID)
			}
		}
	}
	b.forgetIDs(free)
}

// forgetIDs removes ids from the index (a cluster's second step; see
// above), under a bounded context of its own: it must happen even when
// the caller's ctx has ended.
func (b *Backend) forgetIDs(ids []string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.FlushTimeout)
	defer cancel()
	if err := b.rdb.HDel(ctx, b.k.ids(), ids...).Err(); err != nil {
		b.log.Warn("forget task ids", "ids", len(ids), "err", err)
	}
}

// dueArg is the due index as the scripts take it: "" on a cluster,
// where no queue script may touch it and upkeep walks every queue.
func (b *Backend) dueArg() string {
	if b.cluster {
		return ""
	}
	return b.k.due()
}

// idsArg is the id index as the scripts take it: "" on a cluster, where
// the Go side keeps it.
func (b *Backend) idsArg() string {
	if b.cluster {
		return ""
	}
	return b.k.ids()
}

// queueOf finds the queue of a leased task, for the lease-bound calls:
// from the leases this process holds, else from the id index. The
// remembered queue may be stale (the task was deleted and its id used
// again in another queue): then the call finds no lease there and
// reports ErrLeaseLost, which is true of the lease it names.
func (b *Backend) queueOf(ctx context.Context, id string) (string, error) {
	b.leasesMu.Lock()
	e, ok := b.leases[id]
	b.leasesMu.Unlock()
	if ok {
		return e.queue, nil
	}
	return b.indexedQueue(ctx, id)
}

// indexedQueue finds the queue of a task in the id index. ErrNotFound
// when the id is not there.
func (b *Backend) indexedQueue(ctx context.Context, id string) (string, error) {
	q, err := detached(b, ctx, func(ctx context.Context) (string, error) {
		return b.rdb.HGet(ctx, b.k.ids(), id).Result()
	}, nil)
	if isNil(err) {
		return "", fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	if err != nil {
		return "", redisErr("find task "+id, err)
	}
	return q, nil
}
