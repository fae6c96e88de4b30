package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// call is one caller's request waiting in a coalescer.
type call[R any] struct {
	req  R
	err  error
	done chan struct{}
}

// sized is a request that says how many rows it carries.
type sized interface{ size() int }

// coalescer is the group commit: concurrent callers hand their requests
// to a few flushers; each flusher takes one request and every other one
// already waiting (up to max rows) and runs them as one statement in one
// transaction, so N concurrent submits cost one commit, not N. Nothing
// waits on purpose: while one flush is in flight the next batch gathers.
type coalescer[R sized] struct {
	in    chan *call[R]
	max   int
	flush func(ctx context.Context, calls []*call[R])
}

func newCoalescer[R sized](b *Backend, max, flushers int, flush func(context.Context, []*call[R])) *coalescer[R] {
	c := &coalescer[R]{in: make(chan *call[R], 4*max), max: max, flush: flush}
	for range flushers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			c.run(b.ctx)
		}()
	}
	return c
}

func (c *coalescer[R]) run(stop context.Context) {
	for {
		var first *call[R]
		select {
		case first = <-c.in:
		case <-stop.Done():
			c.failWaiting()
			return
		}
		batch, rows := []*call[R]{first}, first.req.size()
	gather:
		for rows < c.max {
			select {
			case more := <-c.in:
				batch = append(batch, more)
				rows += more.req.size()
			default:
				break gather
			}
		}
		// The flush outlives its callers' contexts: once gathered, a
		// batch is committed or failed as a whole, and Close waits for it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c.flush(ctx, batch)
		cancel()
		for _, cl := range batch {
			close(cl.done)
		}
	}
}

// failWaiting answers the requests no flusher will take after Close.
func (c *coalescer[R]) failWaiting() {
	for {
		select {
		case cl := <-c.in:
			cl.err = backend.ErrClosed
			close(cl.done)
		default:
			return
		}
	}
}

// do hands req to a flusher and waits for its outcome. When ctx ends
// first the caller gets ctx's error, but the request may still have been
// committed: the statement was, or is about to be, sent.
func (c *coalescer[R]) do(ctx context.Context, b *Backend, req R) error {
	// A ctx that has already ended changes nothing: checked first, since
	// select would pick at random between a ready send and a done ctx.
	if err := ctx.Err(); err != nil {
		return err
	}
	cl := &call[R]{req: req, done: make(chan struct{})}
	select {
	case c.in <- cl:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return backend.ErrClosed
	}
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return fmt.Errorf("%w (the change may have been committed all the same)", ctx.Err())
	}
}
