package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// finishOp is one ack, fail, release or progress report waiting to be
// sent with others in one finish script call.
type finishOp struct {
	queue string
	args  [8]any // kind, prefix, queue, id, token, a1, a2, a3
	code  int64
	err   error
	done  chan struct{}
}

func (o *finishOp) fail(err error) { o.err = err; close(o.done) }

// Ack completes a leased task with its result; see backend.Backend.
func (b *Backend) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	return b.finish(ctx, l, "ack", "c", string(result), "", "")
}

// Fail records a failed attempt; see backend.Backend.
func (b *Backend) Fail(ctx context.Context, l backend.LeaseRef, f backend.Failure) error {
	final := "0"
	if f.Final {
		final = "1"
	}
	// TODO(redis branch): the script adds RetryIn to the server's TIME.
	retryAt := time.Now().Add(max(f.RetryIn, 0))
	return b.finish(ctx, l, "fail", "f", f.Error, itoa(micros(retryAt)), final)
}

// Release hands a leased task back without counting the attempt.
func (b *Backend) Release(ctx context.Context, l backend.LeaseRef) error {
	return b.finish(ctx, l, "release", "r", "", "", "")
}

// SetProgress stores a running task's progress.
func (b *Backend) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	at := p.At
	if at.IsZero() {
		at = time.Now()
	}
	return b.finish(ctx, l, "set progress", "g", strconv.FormatFloat(p.Percent, 'f', -1, 64), p.Message, itoa(micros(at)))
}

func (b *Backend) finish(ctx context.Context, l backend.LeaseRef, what, kind, a1, a2, a3 string) error {
	q, err := b.queueOf(ctx, l.TaskID)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%s task %s: %w", what, l.TaskID, backend.ErrLeaseLost)
		}
		return err
	}
	op := &finishOp{queue: q, done: make(chan struct{}),
		args: [8]any{kind, b.qp(q), q, l.TaskID, strconv.FormatUint(l.Token, 10), a1, a2, a3}}
	if !b.fin.submit(op) {
		return errClosed
	}
	// Once submitted the write will run: wait for its answer even if ctx
	// ends, so that a recorded result is never reported as lost.
	<-op.done
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := itoa(nowMicros())
	groups := bySlot(b, ops, func(op *finishOp) string { return op.queue })
	calls := make([]*scriptCall, len(groups))
	for i, group := range groups {
		args := make([]any, 0, 3+8*len(group))
		args = append(args, now, b.evArg(), b.k.wakeChannel())
		for _, op := range group {
			args = append(args, op.args[:]...)
		}
		calls[i] = &scriptCall{script: finishScript, keys: []string{b.k.meta(group[0].queue)}, args: args}
	}
	b.runAll(ctx, calls, false)
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
