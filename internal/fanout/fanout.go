// Package fanout delivers a backend's events to every subscriber without
// ever blocking the publisher: each subscriber has a bounded buffer, and
// one that falls behind loses events and receives one resync event in
// their place, before the next event it gets.
//
// A backend whose events come over a connection that can break (Redis
// pub/sub, PostgreSQL LISTEN) calls Lost when it may have missed events
// and Flush when it is receiving again. A backend that should receive
// events only while someone watches (publishers elsewhere build them only
// then) joins and leaves its source in the Hooks, which the Fanout runs
// in order with the subscribers coming and going.
package fanout

import (
	"context"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// DefaultBuffer is how many events a subscriber may fall behind before it
// loses events, unless the backend chooses otherwise.
const DefaultBuffer = 1024

// Hooks are what a backend does when its Fanout gains its first
// subscriber or loses its last. Either may be nil.
type Hooks struct {
	// First runs in Subscribe before the first subscriber is added (none
	// is left from before); an error refuses that Subscribe, which returns
	// it, and the next Subscribe runs First again. It may block, but not
	// on a call to Publish, Lost or Flush, which it does not hold up.
	First func(ctx context.Context) error
	// Last runs once the last subscriber's ctx ended and it was removed,
	// before any later Subscribe is served (which therefore runs First
	// again). Close does not run it.
	Last func()
}

// Fanout is a set of subscribers. Make it with New or NewWithHooks.
type Fanout struct {
	buffer int
	now    func() time.Time
	hooks  Hooks
	done   chan struct{} // closed by Close: the subscribers stop watching their ctx

	// members orders the hooks with the subscribers coming and going:
	// Subscribe holds it while First runs and its subscriber is added, a
	// subscriber's end while it removes itself and, when it was the last,
	// Last runs. Without it a Subscribe could come between the last
	// removal and Last, find someone subscribed (so not run First), and
	// lose its events when Last left the source; or run First before an
	// earlier Last, and have it undone. Publish does not take it, so a
	// First waiting for its source to confirm does not stop the events.
	members sync.Mutex

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch      chan backend.Event
	dropped bool // events were lost; send a resync before the next one
}

// New returns a Fanout whose subscribers buffer up to buffer events
// (DefaultBuffer when buffer < 1). now stamps resync events (the
// backend's clock).
func New(buffer int, now func() time.Time) *Fanout {
	return NewWithHooks(buffer, now, Hooks{})
}

// NewWithHooks is New with hooks run when the first subscriber arrives
// and when the last one leaves.
func NewWithHooks(buffer int, now func() time.Time, hooks Hooks) *Fanout {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	return &Fanout{buffer: buffer, now: now, hooks: hooks, done: make(chan struct{}),
		subs: map[*subscriber]struct{}{}}
}

// Subscribe returns a channel of every event published from now on, until
// ctx ends or the Fanout closes; then the channel is closed. Its only
// error is that of Hooks.First. After Close it returns a closed channel.
func (f *Fanout) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	s := &subscriber{ch: make(chan backend.Event, f.buffer)}
	f.members.Lock()
	defer f.members.Unlock()
	f.mu.Lock()
	closed, first := f.closed, len(f.subs) == 0
	f.mu.Unlock()
	if !closed && first && f.hooks.First != nil {
		if err := f.hooks.First(ctx); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(s.ch)
		return s.ch, nil
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	go f.watch(ctx, s)
	return s.ch, nil
}

// watch removes s once its ctx ends, and runs Last when s was the last.
func (f *Fanout) watch(ctx context.Context, s *subscriber) {
	select {
	case <-ctx.Done():
	case <-f.done:
	}
	f.members.Lock()
	defer f.members.Unlock()
	f.mu.Lock()
	_, ok := f.subs[s]
	if ok {
		delete(f.subs, s)
		close(s.ch)
	}
	last := ok && len(f.subs) == 0 && !f.closed
	f.mu.Unlock()
	if last && f.hooks.Last != nil {
		f.hooks.Last()
	}
}

// Len is how many subscribers there are now: a backend that builds events
// only while someone watches asks it.
func (f *Fanout) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Publish hands e to every subscriber that has room. A subscriber owed a
// resync gets it first; when one of the events is itself a resync, the
// owed one stands for it, so that the subscriber does not reload twice.
func (f *Fanout) Publish(events ...backend.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range events {
		for s := range f.subs {
			if s.dropped {
				if !f.settle(s) {
					continue
				}
				if e.Kind == backend.EventResync {
					continue
				}
			}
			select {
			case s.ch <- e:
			default:
				s.dropped = true
			}
		}
	}
}

// Lost owes every subscriber a resync: the events may have missed some
// (the backend's connection to them broke). Each gets one, however many
// times Lost is called, at Flush or before its next event.
func (f *Fanout) Lost() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.dropped = true
	}
}

// Flush sends the resyncs owed to the subscribers that have room, rather
// than at their next event, which may be long in coming; a subscriber
// whose buffer is full still gets its resync before its next event.
func (f *Fanout) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.dropped {
			f.settle(s)
		}
	}
}

// settle sends the resync s is owed; false when its buffer is still full
// (the resync stays owed). f.mu is held.
func (f *Fanout) settle(s *subscriber) bool {
	select {
	case s.ch <- backend.Event{Kind: backend.EventResync, At: f.now()}:
		s.dropped = false
		return true
	default:
		return false
	}
}

// Close closes every subscriber's channel; later subscribers get a
// closed channel. It does not run Hooks.Last: the backend closing stops
// its source itself.
func (f *Fanout) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	close(f.done)
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
}
