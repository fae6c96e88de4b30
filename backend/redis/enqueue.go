package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
	"github.com/taskmill/taskmill/internal/coalesce"
)

var errClosed = fmt.Errorf("redis: %w", backend.ErrClosed)

// enqueueOp is the part of one Enqueue call that falls in one slot.
type enqueueOp struct {
	coalesce.Ticket                 // withdrawn by a caller that leaves while it waits
	ctx             context.Context // the caller's: bounds the flush (see flushContext)
	queue           string          // of the first task: KEYS[1] is its meta key
	args            []any           // the group: task count, then each task's values
	res             []any           // the script's answer for the group
	err             error
	done            chan struct{}
}

// Fail ends an op the coalescer will not send (it closed).
func (o *enqueueOp) Fail(err error) { o.err = err; close(o.done) }

// Enqueue stores new tasks; see backend.Backend. Concurrent calls share
// script calls (see internal/coalesce). On one Redis server a call is atomic
// whatever queues it spans; on a cluster it is atomic per queue slot.
// With Options.WaitReplicas it returns after the replicas acknowledged.
//
// Enqueue returns when ctx ends. If nothing had been sent by then, the
// error is ctx's and nothing was stored; if the script call had been
// sent, the error wraps ErrUnknownOutcome: the tasks may be stored. So
// does an error for a reply that was lost (a timeout, a broken
// connection): the call is never sent twice.
func (b *Backend) Enqueue(ctx context.Context, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	if b.closed() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	var queues []string
	order := make([]int, len(tasks)) // indexes into tasks
	seen := make(map[string]bool, len(tasks))
	for i, t := range tasks {
		err := model.CheckNew(t)
		if err == nil {
			if e := checkName("queue", t.Queue); e != nil {
				err = fmt.Errorf("task %s: %w: %w", t.ID, e, backend.ErrInvalid)
			} else if t.ID == leasePin {
				err = fmt.Errorf("task id %.40s…: reserved by the Redis backend: %w", t.ID, backend.ErrInvalid)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("redis: enqueue task %d: %w", i, err)
		}
		if !slices.Contains(queues, t.Queue) {
			queues = append(queues, t.Queue)
		}
		order[i] = i
	}
	// Malformed tasks first (above), then ids: twice in the call here,
	// already stored in the script (or claimIDs).
	for _, t := range tasks {
		if seen[t.ID] {
			return nil, fmt.Errorf("redis: enqueue: task id %s twice in the call: %w", t.ID, backend.ErrDuplicate)
		}
		seen[t.ID] = true
	}
	if b.cluster {
		// The queues' slots are not the id index's or the registry's:
		// claim the ids and register the queues first (see ids.go).
		if err := b.registerQueues(ctx, queues); err != nil {
			return nil, err
		}
		if err := b.claimIDs(ctx, tasks); err != nil {
			return nil, err
		}
	}
	results, err := b.enqueueGroups(ctx, tasks, order)
	if b.cluster {
		b.settleClaims(tasks, results, err)
	}
	b.sawQueues(queues)
	return results, err
}

// enqueueGroups sends the tasks through the coalescer, one op per slot.
func (b *Backend) enqueueGroups(ctx context.Context, tasks []*backend.Task, order []int) ([]backend.EnqueueResult, error) {
	// One op per slot, the tasks in their order; on one server, one op.
	groups := bySlot(b, order, func(i int) string { return tasks[i].Queue })
	ops := make([]*enqueueOp, len(groups))
	for k, idx := range groups {
		op := &enqueueOp{ctx: ctx, queue: tasks[idx[0]].Queue, done: make(chan struct{})}
		op.args = make([]any, 0, 1+8*len(idx))
		op.args = append(op.args, len(idx))
		for _, i := range idx {
			var err error
			if op.args, err = appendTaskArgs(op.args, tasks[i]); err != nil {
				return nil, err
			}
		}
		ops[k] = op
	}
	submitted := 0
	var waitErr error
	for _, op := range ops {
		if waitErr = b.enq.Submit(ctx, op); waitErr != nil {
			break
		}
		submitted++
	}
	for _, op := range ops[:submitted] {
		if err := await(ctx, op.done, &op.Ticket); err != nil && waitErr == nil {
			waitErr = err
		}
	}
	if waitErr != nil {
		// An op already taken was sent, and on a cluster a call is
		// atomic per slot only: then some tasks may be stored.
		for _, op := range ops[:submitted] {
			if op.Taken() {
				if !errors.Is(waitErr, ErrUnknownOutcome) {
					waitErr = unknownOutcome(waitErr)
				}
				break
			}
		}
		return nil, fmt.Errorf("redis: enqueue: %w", waitErr)
	}
	results := make([]backend.EnqueueResult, len(tasks))
	var errs []error
	for k, op := range ops {
		if op.err != nil {
			errs = append(errs, op.err)
			continue
		}
		if code, _ := op.res[0].(int64); code == -1 {
			dup, _ := op.res[1].(string)
			errs = append(errs, fmt.Errorf("task id %s already exists: %w", dup, backend.ErrDuplicate))
			continue
		}
		for j, i := range groups[k] {
			holder, _ := op.res[j+1].(string)
			if holder == "" {
				results[i] = backend.EnqueueResult{ID: tasks[i].ID}
			} else {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("redis: enqueue: %w", err)
	}
	return results, nil
}

// runEnqueue runs a batch of enqueue ops: one script call per slot, all
// in one pipeline.
func (b *Backend) runEnqueue(ops []*enqueueOp) {
	ctx, cancel := b.flushContext(func(yield func(context.Context) bool) {
		for _, op := range ops {
			if !yield(op.ctx) {
				return
			}
		}
	})
	defer cancel()
	off := b.offset()
	groups := bySlot(b, ops, func(op *enqueueOp) string { return op.queue })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		ids, registry := b.k.ids(), b.k.queues()
		if b.cluster {
			ids, registry = "", ""
		}
		args := []any{off, b.evArg(), b.k.wakeChannel(), ids, registry, b.dueArg(), b.k.prefix, len(group)}
		for _, op := range group {
			args = append(args, op.args...)
		}
		calls[i] = &scriptCall{script: enqueueScript, keys: []string{b.k.meta(group[0].queue)}, args: args}
	}
	b.sendAll(ctx, calls, b.opts.WaitReplicas > 0)
	for i, group := range groups {
		c := calls[i]
		res, _ := c.val.([]any)
		for j, op := range group {
			switch {
			case c.err != nil:
				op.err = c.err
			case j >= len(res):
				op.err = fmt.Errorf("enqueue script answered %d groups for %d", len(res), len(group))
			default:
				op.res, _ = res[j].([]any)
			}
			close(op.done)
		}
	}
}
