// Package coalesce gathers concurrent calls into batches: a few loops
// each take every call waiting at that moment (up to a maximum) and run
// them together. When idle a call runs at once, alone; under load many
// calls share one transaction and one fsync (the embedded backend's group
// commit), one round trip and one script (Redis), or one statement and
// one commit (PostgreSQL).
//
// A caller whose ctx ends while its call still waits withdraws it (see
// Ticket): the call never runs, and the caller knows nothing changed.
// Once a loop has taken a call it runs whatever its caller does; each
// backend decides what a caller that stops waiting then learns.
package coalesce

import (
	"context"
	"sync"
)

// Item is one call waiting in a Coalescer; embed a Ticket for Take. Fail
// ends it without running it (the Coalescer closed before its turn).
type Item interface {
	// Take is called by a loop before the item joins a batch (see
	// Ticket.Take): false when its caller withdrew it.
	Take() bool
	Fail(error)
}

// Weighted is an Item that counts as Weight() (at least one) toward a
// batch's maximum instead of one: a request that carries several rows. A
// batch holds at most max of weight, except that an item heavier than
// max runs alone. The item type decides, once, at New: an interface
// type T counts one per item whatever its values are.
type Weighted interface{ Weight() int }

// Coalescer runs batches of T. Make it with New.
type Coalescer[T Item] struct {
	ch     chan T
	max    int
	weigh  func(T) int // nil when T is not Weighted: every item counts one
	run    func([]T)
	stop   chan struct{}
	closed error
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.RWMutex // Submit holds it shared, Close exclusively
	isClosed bool
}

// New starts loops goroutines that run batches of at most max items (or
// max of weight, see Weighted) with run. Every item run is given has been
// taken (Ticket.Take). Items still queued at Close are failed with
// closed.
func New[T Item](loops, max int, closed error, run func([]T)) *Coalescer[T] {
	c := &Coalescer[T]{ch: make(chan T, 4*max), max: max, run: run, stop: make(chan struct{}), closed: closed}
	var zero T
	if _, ok := any(zero).(Weighted); ok {
		c.weigh = func(x T) int {
			if w := any(x).(Weighted).Weight(); w > 1 {
				return w
			}
			return 1
		}
	}
	for range loops {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// Submit queues x to run in a coming batch. It fails with the closed
// error when the Coalescer is closed, and with ctx's error when ctx has
// ended or ends before x found room in the queue; x is then not queued.
// Once Submit returned nil, x runs or is failed, unless its caller
// withdraws it first (Ticket.Withdraw).
func (c *Coalescer[T]) Submit(ctx context.Context, x T) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.isClosed {
		return c.closed
	}
	// A ctx that has already ended changes nothing: checked first, since
	// select would pick at random between a ready send and a done ctx.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case c.ch <- x: // the loops run until Close, which waits for this
		return nil
	default:
	}
	select {
	case c.ch <- x:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len reports how many items wait in the queue, not yet looked at by a
// loop.
func (c *Coalescer[T]) Len() int { return len(c.ch) }

func (c *Coalescer[T]) loop() {
	defer c.wg.Done()
	batch := make([]T, 0, c.max)
	// held is an item that did not fit the last batch: the first of the
	// next. It is taken only then, so its caller can still withdraw it.
	var held T
	holding := false
	for {
		batch = batch[:0]
		weight := 0
		if holding {
			if held.Take() {
				batch, weight = append(batch, held), c.weightOf(held)
			}
			var none T
			held, holding = none, false
		} else {
			select {
			case x := <-c.ch:
				if x.Take() {
					batch, weight = append(batch, x), c.weightOf(x)
				}
			case <-c.stop:
				return
			}
		}
	more:
		for weight < c.max {
			select {
			case x := <-c.ch:
				w := c.weightOf(x)
				if weight+w > c.max && len(batch) > 0 {
					held, holding = x, true
					break more
				}
				if x.Take() {
					batch, weight = append(batch, x), weight+w
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

// weightOf is what x counts toward a batch's maximum (see Weighted).
func (c *Coalescer[T]) weightOf(x T) int {
	if c.weigh == nil {
		return 1
	}
	return c.weigh(x)
}

// Close stops the loops after the batches in flight and fails what is
// still queued (and not withdrawn). It is idempotent.
func (c *Coalescer[T]) Close() {
	c.once.Do(func() {
		c.mu.Lock()
		c.isClosed = true
		c.mu.Unlock()
		close(c.stop)
		c.wg.Wait()
		for {
			select {
			case x := <-c.ch:
				if x.Take() {
					x.Fail(c.closed)
				}
			default:
				return
			}
		}
	})
}
