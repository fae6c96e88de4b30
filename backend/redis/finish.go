package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/coalesce"
)

// finishOp is one ack, fail, release or progress report waiting to be
// sent with others in one finish script call.
type finishOp struct {
	coalesce.Ticket                 // withdrawn by a caller that leaves while it waits
	ctx             context.Context // the caller's: bounds the flush (see flushContext)
	queue           string
	args            [7]any // kind, queue, id, lease ("<token>:<secret>"), then the kind's values
	nargs           int    // how many of args are sent
	code            int64
	err             error
	done            chan struct{}
}

// Fail ends an op the coalescer will not send (it closed).
func (o *finishOp) Fail(err error) { o.err = err; close(o.done) }

// Ack completes a leased task with its result; see backend.Backend.
func (b *Backend) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	return b.finish(ctx, l, "ack", "c", string(result))
}

// Fail records a failed attempt; see backend.Backend.
func (b *Backend) Fail(ctx context.Context, l backend.LeaseRef, f backend.Failure) error {
	final := "0"
	if f.Final {
		final = "1"
	}
	// The script retries at its own now plus the delay.
	return b.finish(ctx, l, "fail", "f", f.Error, itoa(max(f.RetryIn, 0).Microseconds()), final)
}

// Release hands a leased task back without counting the attempt.
func (b *Backend) Release(ctx context.Context, l backend.LeaseRef) error {
	return b.finish(ctx, l, "release", "r")
}

// SetProgress stores a running task's progress, stamped with the
// backend's now.
func (b *Backend) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	return b.finish(ctx, l, "set progress", "g", strconv.FormatFloat(p.Percent, 'f', -1, 64), p.Message)
}

// finish sends one op; values are the kind's own (see finish.lua), at
// most three.
func (b *Backend) finish(ctx context.Context, l backend.LeaseRef, what, kind string, values ...string) error {
	if b.closed() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q, err := b.queueOf(ctx, l.TaskID)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%s task %s: %w", what, l.TaskID, backend.ErrLeaseLost)
		}
		return err
	}
	op := &finishOp{ctx: ctx, queue: q, done: make(chan struct{}),
		args: [7]any{kind, q, l.TaskID, leaseField(l)}, nargs: 4 + len(values)}
	for i, v := range values {
		op.args[4+i] = v
	}
	if err := b.fin.Submit(ctx, op); err != nil {
		return fmt.Errorf("redis: %s task %s: %w", what, l.TaskID, err)
	}
	// When ctx ends first: a call still queued is withdrawn (nothing
	// changed); one already sent may have run (ErrUnknownOutcome).
	if err := await(ctx, op.done, &op.Ticket); err != nil {
		return fmt.Errorf("redis: %s task %s: %w", what, l.TaskID, err)
	}
	if op.err != nil {
		return fmt.Errorf("redis: %s task %s: %w", what, l.TaskID, op.err)
	}
	if op.code != 1 {
		b.forgetLease(l.TaskID)
		return fmt.Errorf("%s task %s token %d: %w", what, l.TaskID, l.Token, backend.ErrLeaseLost)
	}
	if kind != "g" {
		b.forgetLease(l.TaskID)
	}
	return nil
}

// runFinish sends a batch of finish ops: one script call per slot, all
// in one pipeline.
func (b *Backend) runFinish(ops []*finishOp) {
	ctx, cancel := b.flushContext(func(yield func(context.Context) bool) {
		for _, op := range ops {
			if !yield(op.ctx) {
				return
			}
		}
	})
	defer cancel()
	off := b.offset()
	groups := bySlot(b, ops, func(op *finishOp) string { return op.queue })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := make([]any, 0, 5+6*len(group))
		args = append(args, off, b.evArg(), b.k.wakeChannel(), b.dueArg(), b.k.prefix)
		for _, op := range group {
			args = append(args, op.args[:op.nargs]...)
		}
		calls[i] = &scriptCall{script: finishScript, keys: []string{b.k.meta(group[0].queue)}, args: args}
	}
	b.sendAll(ctx, calls, false)
	for i, group := range groups {
		c := calls[i]
		codes, _ := c.val.([]any)
		for j, op := range group {
			switch {
			case c.err != nil:
				op.err = c.err
			case j >= len(codes):
				op.err = errors.New("finish script answered too few results")
			default:
				op.code, _ = codes[j].(int64)
			}
			close(op.done)
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, backend.ErrNotFound) }
