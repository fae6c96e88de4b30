package amqpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/backend"
)

// sweepInterval is how often the pending replies are checked against the
// backend, besides the resyncs: a net for a final event missed while a
// Get failed.
const sweepInterval = time.Minute

// watchTasks follows the backend's events until ctx ends: final states
// trigger replies, and every transition goes to the events exchange.
// After a (re)subscription or an EventResync, events may have been lost:
// the pending replies are then read back from the backend.
func (b *Bridge) watchTasks(ctx context.Context) {
	adopted := b.cfg.NoReplies
	for fails := 0; ctx.Err() == nil; {
		events, err := b.cfg.Client.Backend().Subscribe(ctx)
		if err != nil {
			fails++
			b.log.Warn("amqp bridge: subscribe to task events", "err", err)
			sleep(ctx, b.reconnectWait(fails))
			continue
		}
		fails = 0
		// window counts the events already buffered when the adoption
		// scan ends: a task that finished during the scan may have
		// escaped it, so their final events are checked in the backend.
		window := 0
		if !adopted {
			if err := b.adopt(ctx); err != nil {
				b.log.Warn("amqp bridge: read the tasks awaiting a reply", "err", err)
			} else {
				adopted = true
				window = len(events)
			}
		} else if !b.cfg.NoReplies {
			b.resync(ctx)
		}
		began := time.Now()
		b.follow(ctx, events, window, &adopted)
		if time.Since(began) < time.Second {
			// A stream that ends at once (the backend dropping its
			// subscribers): back off as after a failed subscribe.
			fails++
			sleep(ctx, b.reconnectWait(fails))
		}
	}
}

func (b *Bridge) follow(ctx context.Context, events <-chan backend.Event, window int, adopted *bool) {
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if !*adopted {
				if err := b.adopt(ctx); err == nil {
					*adopted = true
				}
			}
			if !b.cfg.NoReplies {
				b.resync(ctx)
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch ev.Kind {
			case backend.EventResync:
				if !b.cfg.NoReplies {
					b.resync(ctx)
				}
			case backend.EventTaskUpdate:
				if ev.Task != nil {
					b.onTaskEvent(ctx, ev, window > 0)
				}
			}
			if window > 0 {
				window--
			}
		}
	}
}

func (b *Bridge) onTaskEvent(ctx context.Context, ev backend.Event, checkUnknown bool) {
	if b.cfg.EventsExchange != "" {
		b.publishEvent(ctx, ev)
	}
	if b.cfg.NoReplies || !ev.Task.State.Final() {
		return
	}
	if to, ok := b.replies.take(ev.Task.ID); ok {
		b.outbox.push(replyJob{id: ev.Task.ID, to: to})
		return
	}
	if checkUnknown {
		t, err := b.cfg.Client.Backend().Get(ctx, ev.Task.ID)
		if err != nil {
			return
		}
		if to, ok := replyAddrOf(t); ok && t.State.Final() {
			b.outbox.push(replyJob{id: t.ID, to: to, reply: replyOf(t)})
		}
	}
}

// resync reads every pending reply's task and answers those that are
// final: their events may have been lost.
func (b *Bridge) resync(ctx context.Context) {
	for _, id := range b.replies.ids() {
		if ctx.Err() != nil {
			return
		}
		t, err := b.cfg.Client.Backend().Get(ctx, id)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			// Never stored (the submit failed and was requeued) or
			// deleted since: nothing to answer.
			if to, ok := b.replies.take(id); ok {
				b.log.Debug("amqp reply dropped: no such task", "task_id", id, "reply_to", to.Queue)
			}
		case err != nil:
			b.log.Warn("amqp reply resync: read task", "task_id", id, "err", err)
			return // the backend is away; the next resync tries again
		case t.State.Final():
			if to, ok := b.replies.take(id); ok {
				b.outbox.push(replyJob{id: id, to: to, reply: replyOf(t)})
			}
		}
	}
}

// adopt registers the unfinished tasks that carry a reply address, so
// that a bridge started after a crash answers the submits its previous
// run acknowledged. Tasks that finished while no bridge ran get no reply
// (docs/amqp.md, "Delivery guarantees").
func (b *Bridge) adopt(ctx context.Context) error {
	n := 0
	for _, st := range []backend.State{backend.StatePending, backend.StateScheduled, backend.StateRetrying, backend.StateProcessing} {
		f := backend.Filter{State: st, Limit: 1000}
		for {
			page, err := b.cfg.Client.Backend().List(ctx, f)
			if err != nil {
				return fmt.Errorf("list %s tasks: %w", st, err)
			}
			for _, t := range page.Tasks {
				if to, ok := replyAddrOf(t); ok && !b.replies.has(t.ID) {
					b.replies.add(t.ID, to)
					n++
				}
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
	}
	if n > 0 {
		b.log.Info("amqp bridge: adopted unfinished tasks awaiting a reply", "tasks", n)
	}
	return nil
}

// publishEvent sends a task_update event to the events exchange. It does
// not wait for the confirm: confirmEvents counts it when it comes. While
// the link is down events are dropped and counted, not queued.
func (b *Bridge) publishEvent(ctx context.Context, ev backend.Event) {
	b.mu.Lock()
	s := b.sess
	b.mu.Unlock()
	if s == nil || s.isClosed() {
		b.m.events.WithLabelValues("dropped").Inc()
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		b.m.events.WithLabelValues("dropped").Inc()
		return
	}
	key := "task." + string(ev.Task.State) + "." + ev.Task.Type
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, b.cfg.EventsExchange, key, false, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, Type: "taskmill.event",
		Timestamp: ev.At, MessageId: ev.Task.ID, Body: body,
	})
	if err != nil {
		b.m.events.WithLabelValues("dropped").Inc()
		return
	}
	go func() {
		select {
		case <-dc.Done():
			if dc.Acked() {
				b.m.events.WithLabelValues("published").Inc()
				return
			}
		case <-s.closed:
		}
		b.m.events.WithLabelValues("dropped").Inc()
	}()
}
