package coalesce

import (
	"errors"
	"sync"
	"testing"
)

type item struct {
	n    int
	err  error
	done chan struct{}
}

func (i *item) Fail(err error) { i.err = err; close(i.done) }

func TestBatchesRunEveryItemAndCloseFailsTheRest(t *testing.T) {
	errClosed := errors.New("closed")
	var mu sync.Mutex
	ran := 0
	block := make(chan struct{})
	c := New(1, 10, errClosed, func(batch []*item) {
		<-block
		mu.Lock()
		ran += len(batch)
		mu.Unlock()
		for _, it := range batch {
			close(it.done)
		}
	})
	items := make([]*item, 25)
	for i := range items {
		items[i] = &item{n: i, done: make(chan struct{})}
		if !c.Submit(items[i]) {
			t.Fatal("Submit refused before Close")
		}
	}
	close(block)
	for _, it := range items {
		<-it.done
	}
	if ran != 25 {
		t.Fatalf("ran %d items, want 25", ran)
	}
	c.Close()
	c.Close() // idempotent
	if c.Submit(&item{done: make(chan struct{})}) {
		t.Fatal("Submit accepted after Close")
	}
}

func TestCloseFailsQueuedItems(t *testing.T) {
	errClosed := errors.New("closed")
	started := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	c := New(1, 1, errClosed, func(batch []*item) {
		once.Do(func() { close(started) })
		<-release
		for _, it := range batch {
			close(it.done)
		}
	})
	first := &item{done: make(chan struct{})}
	c.Submit(first)
	<-started // the loop holds first; the next one waits in the queue
	queued := &item{done: make(chan struct{})}
	c.Submit(queued)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	close(release)
	<-closed
	<-first.done
	<-queued.done
	if first.err != nil {
		t.Fatalf("the running item failed: %v", first.err)
	}
	if queued.err != nil && !errors.Is(queued.err, errClosed) {
		t.Fatalf("the queued item: %v, want nil (ran) or the closed error", queued.err)
	}
}

func TestTicket(t *testing.T) {
	var a, b Ticket
	if !a.Take() || !a.Take() || a.Withdraw() {
		t.Fatal("a taken ticket must stay taken and not be withdrawn")
	}
	if !b.Withdraw() || b.Take() {
		t.Fatal("a withdrawn ticket must not be taken")
	}
}
