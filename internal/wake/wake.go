// Package wake is the wake channel every backend keeps for its blocked
// Lease calls: one channel that is closed (waking every waiter at once)
// and replaced whenever work may have arrived.
package wake

import "sync"

// Signal wakes every goroutine waiting on the channel C returned before a
// Broadcast. The zero value is not usable; make one with New.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// New returns a Signal with nobody waiting.
func New() *Signal { return &Signal{ch: make(chan struct{})} }

// C returns the channel the next Broadcast closes. Take it BEFORE looking
// for work, so that work arriving between the look and the wait is not
// missed.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Broadcast wakes every waiter.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}
