// Package coalesce gathers concurrent calls into batches: a few loops
// each take every call waiting at that moment (up to a maximum) and run
// them together. When idle a call runs at once, alone; under load many
// calls share one transaction and one fsync (the embedded backend's group
// commit) or one round trip and one script (Redis).
package coalesce

import "sync"

// Item is one call waiting in a Coalescer. Fail ends it without running
// it (the Coalescer closed before its turn).
type Item interface{ Fail(error) }

// Coalescer runs batches of T. Make it with New.
type Coalescer[T Item] struct {
	ch     chan T
	max    int
	run    func([]T)
	stop   chan struct{}
	closed error
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.RWMutex // Submit holds it shared, Close exclusively
	isClosed bool
}

// New starts loops goroutines that run batches of at most max items with
// run. Items still queued at Close are failed with closed.
func New[T Item](loops, max int, closed error, run func([]T)) *Coalescer[T] {
	c := &Coalescer[T]{ch: make(chan T, 4*max), max: max, run: run, stop: make(chan struct{}), closed: closed}
	for range loops {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// Submit queues x to run in a coming batch; false when the Coalescer is
// closed (x is then not run). Once Submit returned true, x runs or is
// failed: the caller waits for it, even if its ctx ends, so that a write
// that was made is never reported as not made.
func (c *Coalescer[T]) Submit(x T) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.isClosed {
		return false
	}
	c.ch <- x // the loops run until Close, which waits for this
	return true
}

func (c *Coalescer[T]) loop() {
	defer c.wg.Done()
	batch := make([]T, 0, c.max)
	for {
		batch = batch[:0]
		select {
		case x := <-c.ch:
			batch = append(batch, x)
		case <-c.stop:
			return
		}
	more:
		for len(batch) < c.max {
			select {
			case x := <-c.ch:
				batch = append(batch, x)
			default:
				break more
			}
		}
		c.run(batch)
	}
}

// Close stops the loops after the batches in flight and fails what is
// still queued. It is idempotent.
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
				x.Fail(c.closed)
			default:
				return
			}
		}
	})
}
