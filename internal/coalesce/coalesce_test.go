package coalesce

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// item is what the tests batch: n names it, weight is what it counts
// toward a batch's maximum (through heavy).
type item struct {
	Ticket
	n, weight int
	err       error
	done      chan struct{}
}

func newItem(n, weight int) *item { return &item{n: n, weight: weight, done: make(chan struct{})} }

func (i *item) Fail(err error) { i.err = err; close(i.done) }

// heavy is an item that counts as its weight toward a batch's maximum.
type heavy struct{ *item }

func (h heavy) Weight() int { return h.weight }

// gate holds a batch: started is closed when the batch runs, and the
// batch waits for release.
type gate struct{ started, release chan struct{} }

// recorder is a Coalescer's run function: it records each batch (the
// items' n) and answers the items (closes done). A batch holding an item
// with a gate waits at that gate.
type recorder struct {
	gates map[int]gate

	mu      sync.Mutex
	batches [][]int
}

func newRecorder(holds ...int) *recorder {
	r := &recorder{gates: map[int]gate{}}
	for _, n := range holds {
		r.gates[n] = gate{make(chan struct{}), make(chan struct{})}
	}
	return r
}

// started waits until the batch holding item n runs (30s hang guard).
func (r *recorder) started(t *testing.T, n int) {
	t.Helper()
	select {
	case <-r.gates[n].started:
	case <-time.After(30 * time.Second): // hang guard only
		t.Fatalf("the batch holding item %d never ran", n)
	}
}

func (r *recorder) release(n int) { close(r.gates[n].release) }

func (r *recorder) run(batch []heavy) {
	ns := make([]int, len(batch))
	for i, it := range batch {
		ns[i] = it.n
		if !it.Taken() {
			panic("a batch holds an item that was not taken")
		}
	}
	for _, n := range ns {
		if g, ok := r.gates[n]; ok {
			close(g.started)
			<-g.release
		}
	}
	r.mu.Lock()
	r.batches = append(r.batches, ns)
	r.mu.Unlock()
	for _, it := range batch {
		close(it.done)
	}
}

// wantBatches compares the batches run with want.
func (r *recorder) wantBatches(t *testing.T, want ...[]int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.EqualFunc(r.batches, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", r.batches, want)
	}
}

// unweighted adapts a recorder to a Coalescer of plain items, which
// count one each.
func (r *recorder) unweighted(batch []*item) {
	hs := make([]heavy, len(batch))
	for i, it := range batch {
		hs[i] = heavy{it}
	}
	r.run(hs)
}

func submit[T Item](t *testing.T, c *Coalescer[T], x T) {
	t.Helper()
	if err := c.Submit(context.Background(), x); err != nil {
		t.Fatalf("Submit: %v", err)
	}
}

// answered waits until it is answered (30s hang guard).
func answered(t *testing.T, its ...*item) {
	t.Helper()
	for _, it := range its {
		select {
		case <-it.done:
		case <-time.After(30 * time.Second): // hang guard only
			t.Fatalf("item %d never ran nor failed", it.n)
		}
	}
}

// canceled is a ctx that has ended.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

var errClosed = errors.New("closed")

func TestBatchesHoldEveryItemWaitingUpToMax(t *testing.T) {
	r := newRecorder(0)
	c := New(1, 10, errClosed, r.unweighted)
	defer c.Close()
	items := []*item{newItem(0, 0)}
	submit(t, c, items[0])
	r.started(t, 0) // the loop holds item 0; the others wait in the queue
	for n := 1; n <= 25; n++ {
		items = append(items, newItem(n, 0))
		submit(t, c, items[n])
	}
	r.release(0)
	answered(t, items...)
	r.wantBatches(t, []int{0}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, []int{21, 22, 23, 24, 25})
}

// TestWeightsBoundABatch: a batch holds at most max of weight; an item
// that does not fit starts the next batch, and one heavier than max runs
// alone.
func TestWeightsBoundABatch(t *testing.T) {
	r := newRecorder(0)
	c := New(1, 10, errClosed, r.run)
	defer c.Close()
	weights := []int{1, 4, 4, 4, 12, 3, 0, 6, 10, 1}
	items := make([]*item, len(weights))
	for n, w := range weights {
		items[n] = newItem(n, w)
		submit(t, c, heavy{items[n]})
		if n == 0 {
			r.started(t, 0) // the loop holds item 0; the others wait in the queue
		}
	}
	r.release(0)
	answered(t, items...)
	// 4+4 (+4 would be 12); 4 (+12 would be 16); 12 alone; 3 + 0 (which
	// counts one) + 6; 10; 1.
	r.wantBatches(t, []int{0}, []int{1, 2}, []int{3}, []int{4}, []int{5, 6, 7}, []int{8}, []int{9})
}

// TestWithdrawnItemNeverRuns: an item whose caller's ctx ended while it
// waited, in the queue or held over by a loop for the next batch (it did
// not fit), is withdrawn: never run, never answered, and not counted
// toward a batch.
func TestWithdrawnItemNeverRuns(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		r := newRecorder(0)
		c := New(1, 10, errClosed, r.run)
		defer c.Close()
		it := []*item{newItem(0, 1), newItem(1, 1), newItem(2, 9), newItem(3, 1)}
		submit(t, c, heavy{it[0]})
		r.started(t, 0)
		submit(t, c, heavy{it[1]})
		if c.Len() != 1 {
			t.Fatalf("%d items queued, want item 1 alone", c.Len())
		}
		withdraw(t, it[1])
		submit(t, c, heavy{it[2]})
		submit(t, c, heavy{it[3]})
		r.release(0)
		answered(t, it[0], it[2], it[3])
		r.wantBatches(t, []int{0}, []int{2, 3}) // 1 did not count: 9+1 fit
		notAnswered(t, it[1])
	})
	t.Run("held over", func(t *testing.T) {
		r := newRecorder(-1, 0)
		c := New(1, 10, errClosed, r.run)
		defer c.Close()
		blocker := newItem(-1, 1)
		it := []*item{newItem(0, 9), newItem(1, 2), newItem(2, 9), newItem(3, 1)}
		submit(t, c, heavy{blocker})
		r.started(t, -1) // items 0 and 1 queue behind it
		submit(t, c, heavy{it[0]})
		submit(t, c, heavy{it[1]})
		r.release(-1)
		r.started(t, 0) // 9+2 > 10: the loop took 0 and holds 1 over
		if c.Len() != 0 {
			t.Fatalf("%d items queued, want none (item 1 held over by the loop)", c.Len())
		}
		withdraw(t, it[1])
		submit(t, c, heavy{it[2]})
		submit(t, c, heavy{it[3]})
		r.release(0)
		answered(t, blocker, it[0], it[2], it[3])
		r.wantBatches(t, []int{-1}, []int{0}, []int{2, 3})
		notAnswered(t, it[1])
	})
}

// withdraw ends the ctx of it's caller, who must then withdraw it.
func withdraw(t *testing.T, it *item) {
	t.Helper()
	if err := it.Wait(canceled(), it.done); !errors.Is(err, context.Canceled) || it.Taken() {
		t.Fatalf("Wait whose ctx ended: %v, taken %v; want context.Canceled, withdrawn", err, it.Taken())
	}
}

func notAnswered(t *testing.T, it *item) {
	t.Helper()
	select {
	case <-it.done:
		t.Fatalf("item %d was answered (%v), want never run", it.n, it.err)
	default:
	}
}

// TestWaitForATakenItem: a caller whose ctx ends after a loop took its
// item learns that it was taken; the item runs all the same. An answer
// comes back as nil.
func TestWaitForATakenItem(t *testing.T) {
	r := newRecorder(0)
	c := New(1, 10, errClosed, r.run)
	defer c.Close()
	it := newItem(0, 1)
	submit(t, c, heavy{it})
	r.started(t, 0)
	if err := it.Wait(canceled(), it.done); !errors.Is(err, context.Canceled) || !it.Taken() {
		t.Fatalf("Wait whose ctx ended: %v, taken %v; want context.Canceled, taken", err, it.Taken())
	}
	r.release(0)
	if err := it.Wait(context.Background(), it.done); err != nil {
		t.Fatalf("Wait for an item that ran: %v", err)
	}
	// Answered and ended both: the answer wins.
	if err := it.Wait(canceled(), it.done); err != nil {
		t.Fatalf("Wait for an item that ran, ctx ended: %v", err)
	}
	r.wantBatches(t, []int{0})
}

// TestCloseFailsQueuedItems: Close lets the batch in flight finish,
// fails what is queued, skips what was withdrawn, and refuses later
// Submits.
func TestCloseFailsQueuedItems(t *testing.T) {
	r := newRecorder(0)
	c := New(1, 1, errClosed, r.run)
	it := []*item{newItem(0, 1), newItem(1, 1), newItem(2, 1)}
	for n := range it {
		submit(t, c, heavy{it[n]})
		if n == 0 {
			r.started(t, 0) // the loop holds item 0; the others wait in the queue
		}
	}
	withdraw(t, it[2])
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	r.release(0)
	<-closed
	answered(t, it[0], it[1])
	if it[0].err != nil {
		t.Fatalf("the running item failed: %v", it[0].err)
	}
	if it[1].err != nil && !errors.Is(it[1].err, errClosed) {
		t.Fatalf("the queued item: %v, want nil (ran) or the closed error", it[1].err)
	}
	notAnswered(t, it[2])
	c.Close() // idempotent
	if err := c.Submit(context.Background(), heavy{newItem(3, 1)}); !errors.Is(err, errClosed) {
		t.Fatalf("Submit after Close: %v, want the closed error", err)
	}
}

// TestSubmitReturnsWhenCtxEnds: a Submit that finds the queue full
// returns when its ctx ends, its item not queued.
func TestSubmitReturnsWhenCtxEnds(t *testing.T) {
	r := newRecorder(0)
	c := New(1, 1, errClosed, r.run)
	defer c.Close()
	first := newItem(0, 1)
	submit(t, c, heavy{first})
	r.started(t, 0)
	var queued []*item
	for n := 1; n <= cap(c.ch); n++ { // fill the queue
		queued = append(queued, newItem(n, 1))
		submit(t, c, heavy{queued[n-1]})
	}
	ctx, cancel := context.WithCancel(context.Background())
	late := newItem(99, 1)
	errc := make(chan error, 1)
	go func() { errc <- c.Submit(ctx, heavy{late}) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Submit whose ctx ended: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second): // hang guard only
		t.Fatal("Submit into a full queue did not return when its ctx ended")
	}
	if err := c.Submit(canceled(), heavy{late}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit with an ended ctx: %v, want context.Canceled", err)
	}
	r.release(0)
	answered(t, queued...)
	notAnswered(t, late)
}

func TestTicket(t *testing.T) {
	var a, b Ticket
	if a.Taken() {
		t.Fatal("a new ticket is queued, not taken")
	}
	first, again := a.Take(), a.Take()
	if !first || !again || !a.Taken() || a.Withdraw() {
		t.Fatal("a taken ticket must stay taken and not be withdrawn")
	}
	if !b.Withdraw() || b.Take() || b.Taken() {
		t.Fatal("a withdrawn ticket must not be taken")
	}
}

// TestContextErrorKeepsCtxErr: a call whose ctx was ended with a cause
// of its own returns an error that is ctx.Err() (the backend contract)
// and the cause both; a plain ctx gives ctx.Err() alone.
func TestContextErrorKeepsCtxErr(t *testing.T) {
	why := errors.New("worker stopping")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(why)
	it := newItem(0, 1)
	err := it.Wait(ctx, it.done)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, why) {
		t.Fatalf("Wait on a ctx canceled with a cause: %v, want context.Canceled and the cause", err)
	}
	if err := ContextError(canceled()); err != context.Canceled {
		t.Fatalf("ContextError of a plain canceled ctx: %v, want context.Canceled itself", err)
	}
	dctx, dcancel := context.WithTimeoutCause(context.Background(), 0, why)
	defer dcancel()
	<-dctx.Done()
	if err := ContextError(dctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, why) {
		t.Fatalf("ContextError past a deadline with a cause: %v", err)
	}
}
