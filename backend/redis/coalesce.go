package redis

import (
	"context"
	"sync"
	"sync/atomic"
)

// coalescer gathers concurrent calls into batches: a few loops each take
// every call waiting at that moment (up to max) and run them together in
// one script call. When idle a call runs at once, alone; under load many
// calls share one round trip and one script, which is where Redis spends
// less per task. It is the group commit of the embedded backend, for
// round trips instead of fsyncs.
//
// A caller whose ctx ends while its call still waits to be taken
// withdraws it: it is never sent, and the caller knows nothing changed.
// Once a loop has taken a call it is sent; a caller that stops waiting
// then cannot know whether it ran (see ErrUnknownOutcome).
type coalescer[T batched] struct {
	ch   chan T
	max  int
	run  func([]T)
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu     sync.RWMutex // submit holds it shared, close exclusively
	closed bool
}

// batched is what a coalescer carries: a call that can be failed and
// whose taking can be raced against its caller's withdrawal.
type batched interface {
	fail(error)
	claim() *opState
}

// opState is where one call stands: queued, taken by a loop (it will be
// sent), or withdrawn by its caller (it will not).
type opState struct{ v atomic.Int32 }

const (
	opQueued int32 = iota
	opTaken
	opWithdrawn
)

// take marks the call taken; false when its caller withdrew it first.
func (s *opState) take() bool { return s.v.CompareAndSwap(opQueued, opTaken) }

// withdraw marks the call withdrawn; false when a loop took it first.
func (s *opState) withdraw() bool { return s.v.CompareAndSwap(opQueued, opWithdrawn) }

func newCoalescer[T batched](loops, max int, run func([]T)) *coalescer[T] {
	c := &coalescer[T]{ch: make(chan T, 4*max), max: max, run: run, stop: make(chan struct{})}
	for range loops {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// submit queues x. It fails with errClosed when the coalescer is closed,
// and with ctx's error when ctx ends before x found room in the queue
// (x is then not queued).
func (c *coalescer[T]) submit(ctx context.Context, x T) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case c.ch <- x:
		return nil
	default:
	}
	select {
	case c.ch <- x: // the loops run until close, which waits for this
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *coalescer[T]) loop() {
	defer c.wg.Done()
	batch := make([]T, 0, c.max)
	for {
		batch = batch[:0]
		select {
		case x := <-c.ch:
			if x.claim().take() {
				batch = append(batch, x)
			}
		case <-c.stop:
			return
		}
	more:
		for len(batch) < c.max {
			select {
			case x := <-c.ch:
				if x.claim().take() {
					batch = append(batch, x)
				}
			default:
				break more
			}
		}
		if len(batch) > 0 {
			c.run(batch)
		}
	}
}

// close stops the loops after the batches in flight and fails what is
// still queued.
func (c *coalescer[T]) close() {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.stop)
		c.wg.Wait()
		for {
			select {
			case x := <-c.ch:
				if x.claim().take() {
					x.fail(errClosed)
				}
			default:
				return
			}
		}
	})
}
