package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/coalesce"
)

// ErrUnknownOutcome is backend.ErrUnknownOutcome: here, the call's ctx
// ended after its command was sent to Redis, or the reply to a command
// that writes was lost (a timeout, a broken connection: see outcome),
// and the command may have run (or may still run). A call whose ctx
// ended before anything was sent returns the ctx's error alone, and
// changed nothing. go-redis never sends a script call twice (onceCmd).
var ErrUnknownOutcome = backend.ErrUnknownOutcome

// unknownOutcome wraps why the caller stopped waiting (ctx's error, a
// lost reply) for a call that was sent.
func unknownOutcome(cause error) error {
	return fmt.Errorf("%w: %w", ErrUnknownOutcome, cause)
}

// await waits for a batched call's answer (done closed) or ctx's end.
// When ctx ends first and the call was still queued, it is withdrawn
// (never sent) and await returns ctx's error; when it had been taken,
// ErrUnknownOutcome.
func await(ctx context.Context, done <-chan struct{}, t *coalesce.Ticket) error {
	if err := t.Wait(ctx, done); err != nil {
		if t.Taken() {
			return unknownOutcome(err)
		}
		return err
	}
	return nil
}

// flushContext bounds one batched script call: until the latest deadline
// among its callers' contexts, and at most Options.FlushTimeout. A batch
// is sent whatever its callers do meanwhile (they may have left with
// ErrUnknownOutcome), so it cannot follow their cancellation; but it
// must not hold a connection forever either.
func (b *Backend) flushContext(ctxs func(yield func(context.Context) bool)) (context.Context, context.CancelFunc) {
	limit := time.Now().Add(b.opts.FlushTimeout)
	var latest time.Time
	for ctx := range ctxs {
		d, ok := ctx.Deadline()
		if !ok {
			latest = limit
			break
		}
		latest = later(latest, d)
	}
	if latest.IsZero() || latest.After(limit) {
		latest = limit
	}
	return context.WithDeadline(context.Background(), latest)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// detached runs f, which sends commands to Redis, so that its caller
// returns as soon as ctx ends: go-redis bounds a command by its ctx's
// deadline but does not see a cancellation while it waits for a reply.
// f runs with a ctx that keeps ctx's deadline (at most
// Options.FlushTimeout) but not its cancellation, so that a command in
// flight completes and its connection stays usable. When the caller has
// left by the time f returns, undo (if not nil) is given f's result:
// Lease hands back the tasks nobody will run. A caller that left gets
// ctx's error when f had not started, else ErrUnknownOutcome.
func detached[T any](b *Backend, ctx context.Context, f func(context.Context) (T, error), undo func(T)) (T, error) {
	var zero T
	if b.closed() {
		return zero, errClosed
	}
	if ctx.Done() == nil {
		return f(ctx)
	}
	if err := ctx.Err(); err != nil {
		return zero, coalesce.ContextError(ctx)
	}
	type reply struct {
		v   T
		err error
	}
	var st coalesce.Ticket // taken: f has its reply in hand; withdrawn: the caller left
	ch := make(chan reply, 1)
	go func() {
		fctx, cancel := b.flushContext(func(yield func(context.Context) bool) { yield(ctx) })
		defer cancel()
		v, err := f(fctx)
		if !st.Take() {
			if err == nil && undo != nil {
				undo(v)
			}
			return
		}
		ch <- reply{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
	}
	if !st.Withdraw() {
		r := <-ch // f finished just now: its reply stands
		return r.v, r.err
	}
	return zero, unknownOutcome(coalesce.ContextError(ctx))
}
