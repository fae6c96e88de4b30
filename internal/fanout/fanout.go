// Package fanout delivers a backend's events to every subscriber without
// ever blocking the publisher: each subscriber has a bounded buffer, and
// one that falls behind loses events and receives one resync event in
// their place, before the next event it gets.
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

// Fanout is a set of subscribers. Make it with New.
type Fanout struct {
	buffer int
	now    func() time.Time

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
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	return &Fanout{buffer: buffer, now: now, subs: map[*subscriber]struct{}{}}
}

// Subscribe returns a channel of every event published from now on, until
// ctx ends or the Fanout closes; then the channel is closed.
func (f *Fanout) Subscribe(ctx context.Context) <-chan backend.Event {
	s := &subscriber{ch: make(chan backend.Event, f.buffer)}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		if _, ok := f.subs[s]; ok {
			delete(f.subs, s)
			close(s.ch)
		}
		f.mu.Unlock()
	}()
	return s.ch
}

// Publish hands e to every subscriber that has room.
func (f *Fanout) Publish(events ...backend.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range events {
		for s := range f.subs {
			if s.dropped {
				select {
				case s.ch <- backend.Event{Kind: backend.EventResync, At: f.now()}:
					s.dropped = false
				default:
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

// Close closes every subscriber's channel; later subscribers get a
// closed channel.
func (f *Fanout) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
}
