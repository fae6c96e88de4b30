package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/coalesce"
)

// ErrUnknownOutcome is backend.ErrUnknownOutcome: here, the call's ctx
// ended after a flusher had taken its request into a batch, which is
// committed or failed whatever its callers do. A call whose ctx ended
// while its request still waited for a flusher returns the ctx's error
// alone, and changed nothing.
var ErrUnknownOutcome = backend.ErrUnknownOutcome

// flushTimeout bounds one batch's statement and commit: a batch outlives
// its callers' contexts (see coalescer), but must not hold a connection
// forever.
const flushTimeout = time.Minute

// call is one caller's request waiting in a coalescer.
type call[R sized] struct {
	coalesce.Ticket // withdrawn by a caller that leaves while it waits
	req             R
	err             error
	done            chan struct{}
}

// Fail ends a call no flusher will take (the backend closed).
func (c *call[R]) Fail(err error) { c.err = err; close(c.done) }

// Weight makes a batch hold at most MaxBatch rows, not MaxBatch calls.
func (c *call[R]) Weight() int { return c.req.size() }

// sized is a request that says how many rows it carries.
type sized interface{ size() int }

// coalescer is the group commit (internal/coalesce): concurrent callers
// hand their requests to a few flushers; each flusher takes one request
// and every other one already waiting (up to max rows) and runs them as
// one statement in one transaction, so N concurrent submits cost one
// commit, not N. Nothing waits on purpose: while one flush is in flight
// the next batch gathers.
type coalescer[R sized] struct {
	*coalesce.Coalescer[*call[R]]
}

func newCoalescer[R sized](max, flushers int, flush func(context.Context, []*call[R])) coalescer[R] {
	return coalescer[R]{coalesce.New(flushers, max, backend.ErrClosed, func(calls []*call[R]) {
		// The flush outlives its callers' contexts: once taken, a batch
		// is committed or failed as a whole, and Close waits for it.
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		flush(ctx, calls)
		cancel()
		for _, cl := range calls {
			close(cl.done)
		}
	})}
}

// do hands req to a flusher and waits for its outcome. When ctx ends
// while req still waits for a flusher, req is withdrawn and the caller
// gets ctx's error: nothing changed. When a flusher had taken it, the
// error wraps ErrUnknownOutcome: the change may have been committed.
func (c coalescer[R]) do(ctx context.Context, req R) error {
	cl := &call[R]{req: req, done: make(chan struct{})}
	if err := c.Submit(ctx, cl); err != nil {
		return err
	}
	if err := cl.Wait(ctx, cl.done); err != nil {
		if cl.Taken() {
			return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
		return err
	}
	return cl.err
}
