package redis

import "sync"

// coalescer gathers concurrent calls into batches: a few loops each take
// every call waiting at that moment (up to max) and run them together in
// one script call. When idle a call runs at once, alone; under load many
// calls share one round trip and one script, which is where Redis spends
// less per task. It is the group commit of the embedded backend, for
// round trips instead of fsyncs.
type coalescer[T interface{ fail(error) }] struct {
	ch   chan T
	max  int
	run  func([]T)
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu     sync.RWMutex // submit holds it shared, close exclusively
	closed bool
}

func newCoalescer[T interface{ fail(error) }](loops, max int, run func([]T)) *coalescer[T] {
	c := &coalescer[T]{ch: make(chan T, 4*max), max: max, run: run, stop: make(chan struct{})}
	for range loops {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// submit queues x; false when the coalescer is closed.
func (c *coalescer[T]) submit(x T) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.ch <- x // the loops run until close, which waits for this
	return true
}

func (c *coalescer[T]) loop() {
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
				x.fail(errClosed)
			default:
				return
			}
		}
	})
}
