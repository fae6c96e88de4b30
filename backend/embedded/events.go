package embedded

import (
	"context"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// subscriberBuffer is how many events a subscriber may fall behind before
// it loses events and is sent a resync.
const subscriberBuffer = 1024

// broker fans events out to subscribers without ever blocking the publisher.
type broker struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch      chan backend.Event
	dropped bool // events were lost; send a resync before the next one
}

func newBroker() *broker { return &broker{subs: map[*subscriber]struct{}{}} }

func (br *broker) subscribe(ctx context.Context) <-chan backend.Event {
	s := &subscriber{ch: make(chan backend.Event, subscriberBuffer)}
	br.mu.Lock()
	if br.closed {
		br.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	br.subs[s] = struct{}{}
	br.mu.Unlock()
	go func() {
		<-ctx.Done()
		br.mu.Lock()
		if _, ok := br.subs[s]; ok {
			delete(br.subs, s)
			close(s.ch)
		}
		br.mu.Unlock()
	}()
	return s.ch
}

func (br *broker) publish(e backend.Event) {
	br.mu.Lock()
	defer br.mu.Unlock()
	for s := range br.subs {
		if s.dropped {
			select {
			case s.ch <- backend.Event{Kind: backend.EventResync, At: time.Now().UTC()}:
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

func (br *broker) close() {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.closed = true
	for s := range br.subs {
		delete(br.subs, s)
		close(s.ch)
	}
}
