package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/fanout"
)

// subscriberBuffer is how many events a subscriber may fall behind before
// it loses events and is sent a resync.
const subscriberBuffer = 1024

// subscriptions owns the backend's one pub/sub connection. It is always
// subscribed to the wake channel (idle Lease calls sleep on it); to the
// events channel while Subscribe has subscribers, so that the scripts of
// every process build events only while someone watches (they ask PUBSUB
// NUMSUB); and to the cancel channel from the first WatchCancels on.
type subscriptions struct {
	b      *Backend
	ps     *goredis.PubSub
	cancel context.CancelFunc
	done   chan struct{}

	// events are Subscribe's subscribers. Its hooks join the events
	// channel for the first and leave it after the last, in order with
	// the subscribers coming and going.
	events *fanout.Fanout

	mu        sync.Mutex
	cancels   map[chan string]struct{}
	joined    map[string]bool            // channels subscribed to
	confirmed map[string][]chan struct{} // waiting for a subscribe confirmation
	closed    bool
}

func (b *Backend) startSubscriptions(ctx context.Context) (*subscriptions, error) {
	ps := b.rdb.Subscribe(ctx, b.k.wakeChannel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("redis: subscribe to %s: %w", b.k.wakeChannel(), err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &subscriptions{b: b, ps: ps, cancel: cancel, done: make(chan struct{}),
		cancels: map[chan string]struct{}{},
		joined:  map[string]bool{b.k.wakeChannel(): true}, confirmed: map[string][]chan struct{}{}}
	s.events = fanout.NewWithHooks(subscriberBuffer, func() time.Time { return time.Now().UTC() }, fanout.Hooks{
		First: func(ctx context.Context) error { return s.join(ctx, b.k.eventsChannel()) },
		Last:  func() { s.leave(b.k.eventsChannel()) },
	})
	go s.loop(lctx)
	return s, nil
}

func (s *subscriptions) loop(ctx context.Context) {
	defer close(s.done)
	broken := false
	for {
		msg, err := s.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The connection broke: messages may have been lost. go-redis
			// reconnects and resubscribes on the next Receive; meanwhile
			// idle leases look again, and every subscriber is owed a
			// resync.
			s.b.wakeAll()
			s.events.Lost()
			broken = true
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		if broken {
			// Connected and subscribed again (the first reply is the
			// confirmation of the resubscription): from here on nothing
			// is missed, so this is when watchers reload their state,
			// rather than at the next event, which may be long in coming.
			broken = false
			s.events.Flush()
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				s.mu.Lock()
				for _, c := range s.confirmed[m.Channel] {
					close(c)
				}
				delete(s.confirmed, m.Channel)
				s.mu.Unlock()
			}
		case *goredis.Message:
			switch m.Channel {
			case s.b.k.wakeChannel():
				s.b.wakeAll()
			case s.b.k.eventsChannel():
				s.dispatch(m.Payload)
			case s.b.k.cancelChannel():
				s.dispatchCancel(m.Payload)
			}
		}
	}
}

// join subscribes to a channel once and waits for Redis to confirm, so
// that events published after Subscribe returns are delivered.
func (s *subscriptions) join(ctx context.Context, channel string) error {
	s.mu.Lock()
	if s.joined[channel] {
		s.mu.Unlock()
		return nil
	}
	s.joined[channel] = true
	ok := make(chan struct{})
	s.confirmed[channel] = append(s.confirmed[channel], ok)
	s.mu.Unlock()
	if err := s.ps.Subscribe(ctx, channel); err != nil {
		s.mu.Lock()
		s.joined[channel] = false
		s.mu.Unlock()
		return fmt.Errorf("redis: subscribe to %s: %w", channel, err)
	}
	select {
	case <-ok:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("redis: subscribe to %s: no confirmation within 5s", channel)
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errClosed
	}
}

// leave unsubscribes from a channel joined before. Redis stops counting
// this connection in PUBSUB NUMSUB at once; go-redis forgets the channel
// even when the command could not be sent, so a reconnection does not
// subscribe to it again. Once close began there is nothing to leave: the
// connection is going.
func (s *subscriptions) leave(channel string) {
	s.mu.Lock()
	joined := s.joined[channel] && !s.closed
	s.joined[channel] = false
	s.mu.Unlock()
	if !joined {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ps.Unsubscribe(ctx, channel); err != nil {
		s.b.log.Debug("unsubscribe", "channel", channel, "err", err)
	}
}

// Subscribe streams task, queue and worker events published by every
// process sharing this Redis, until ctx ends. A subscriber that falls
// more than 1024 events behind, or whose connection to Redis broke,
// loses events and receives one EventResync in their place (after a
// broken connection, once it is subscribed again).
//
// The process listens to the events channel only while it has
// subscribers: when the last one's ctx ends it unsubscribes, and the
// scripts of every process stop building events once no process
// listens.
func (b *Backend) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	if b.closed() {
		return nil, errClosed
	}
	return b.sub.events.Subscribe(ctx)
}

// WatchCancels streams the ids of tasks canceled by any process, until
// ctx ends. It implements backend.CancelWatcher: a worker needs only
// these, and receiving every event of a busy system would cost it CPU.
// Ids are dropped when the receiver falls 1024 behind; a worker still
// learns of the cancellation at its next lease extension.
func (b *Backend) WatchCancels(ctx context.Context) (<-chan string, error) {
	if b.closed() {
		return nil, errClosed
	}
	if err := b.sub.join(ctx, b.k.cancelChannel()); err != nil {
		return nil, err
	}
	s := b.sub
	ch := make(chan string, subscriberBuffer)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch, nil
	}
	s.cancels[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.mu.Lock()
		if _, ok := s.cancels[ch]; ok {
			delete(s.cancels, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch, nil
}

func (s *subscriptions) dispatchCancel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.cancels {
		select {
		case ch <- id:
		default:
		}
	}
}

func (s *subscriptions) dispatch(payload string) {
	if s.events.Len() == 0 {
		return // no one to decode for: the channel is being left
	}
	events, err := decodeEvents(payload)
	if err != nil {
		s.b.log.Warn("undecodable event message", "err", err)
		return
	}
	s.events.Publish(events...)
}

func (s *subscriptions) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.ps.Close()
	<-s.done
	s.events.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.cancels {
		delete(s.cancels, ch)
		close(ch)
	}
}

// decodeEvents reads one message of the events channel (see scripts.go and scripts/prelude.lua).
func decodeEvents(payload string) ([]backend.Event, error) {
	var msg []json.RawMessage
	if err := json.Unmarshal([]byte(payload), &msg); err != nil || len(msg) != 2 {
		return nil, fmt.Errorf("decode event message: %v", err)
	}
	var nowS string
	if err := json.Unmarshal(msg[0], &nowS); err != nil {
		return nil, fmt.Errorf("decode event time: %w", err)
	}
	at := fromMicros(nowS)
	var rows [][]string
	if err := json.Unmarshal(msg[1], &rows); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	out := make([]backend.Event, 0, len(rows))
	for _, r := range rows {
		if len(r) == 0 {
			continue
		}
		switch r[0] {
		case "t":
			if len(r) < 6 {
				continue
			}
			te := &backend.TaskEvent{ID: r[1], Type: r[2], Queue: r[3], State: codeStates[r[4]]}
			te.Attempt, _ = strconv.Atoi(r[5])
			if len(r) > 6 {
				te.WorkerID = r[6]
			}
			if len(r) > 7 && r[7] != "" {
				te.Result = json.RawMessage(r[7])
			}
			if len(r) > 8 {
				te.Error = r[8]
			}
			if len(r) > 11 && r[9] != "" {
				pct, _ := strconv.ParseFloat(r[9], 64)
				te.Progress = &backend.Progress{Percent: pct, Message: r[10], At: fromMicros(r[11])}
			}
			out = append(out, backend.Event{Kind: backend.EventTaskUpdate, Task: te, Queue: te.Queue, At: at})
		case "q":
			if len(r) > 1 {
				out = append(out, backend.Event{Kind: backend.EventQueueUpdate, Queue: r[1], At: at})
			}
		case "w":
			if len(r) < 4 {
				continue
			}
			w, err := decodeWorker(r[1], r[2], r[3])
			if err != nil {
				continue
			}
			out = append(out, backend.Event{Kind: backend.EventWorkerUpdate, Worker: &w, At: at})
		}
	}
	return out, nil
}

// wakeAll wakes every idle Lease of this process.
func (b *Backend) wakeAll() { b.wake.Broadcast() }
