package coalesce

import (
	"context"
	"testing"
)

// benchItem is a call whose batch does nothing but answer it: what the
// benchmarks measure is the coalescer's own cost per call (queue, take,
// batch, answer, wait), which every submit and ack pays on the hot path.
type benchItem struct {
	Ticket
	done chan struct{}
}

func (i *benchItem) Fail(error)       { close(i.done) }
func (i *benchItem) item() *benchItem { return i }

// weighedBenchItem says its weight, as PostgreSQL's requests do.
type weighedBenchItem struct{ *benchItem }

func (weighedBenchItem) Weight() int { return 1 }

// benchSubmitWait runs 50 callers per CPU that submit and wait, through
// 4 loops with batches of up to 1000 (Redis's submits).
func benchSubmitWait[T interface {
	Item
	item() *benchItem
}](b *testing.B, wrap func(*benchItem) T) {
	c := New(4, 1000, errClosed, func(batch []T) {
		for _, x := range batch {
			close(x.item().done)
		}
	})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetParallelism(50)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			it := &benchItem{done: make(chan struct{})}
			if err := c.Submit(ctx, wrap(it)); err != nil {
				b.Error(err)
				return
			}
			if err := it.Wait(ctx, it.done); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSubmitWait(b *testing.B) {
	benchSubmitWait(b, func(it *benchItem) *benchItem { return it })
}

func BenchmarkSubmitWaitWeighed(b *testing.B) {
	benchSubmitWait(b, func(it *benchItem) weighedBenchItem { return weighedBenchItem{it} })
}
