package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// maxNotify keeps each NOTIFY payload under PostgreSQL's 8000-byte limit.
const maxNotify = 7000

// publisher sends events and wake-ups to every process by NOTIFY, after
// the changes they announce committed, in batches: one statement carries
// many notifications. It runs on its own autocommit statements, not in
// the transactions of the hot path: a transaction that notifies takes
// PostgreSQL's global notify lock through its commit (and its WAL
// flush), which would serialize every commit of the database.
type publisher struct {
	b  *Backend
	in chan pubItem
}

// pubItem is an event to announce, a queue to wake, or a canceled task.
type pubItem struct {
	ev     backend.Event
	wake   string
	cancel string
}

func newPublisher(b *Backend) *publisher {
	p := &publisher{b: b, in: make(chan pubItem, 16384)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		p.run()
	}()
	return p
}

// send queues items without blocking; when the queue is full they are
// dropped and subscribers everywhere get a resync instead. Events are
// dropped at once while no process has subscribers.
func (p *publisher) send(items ...pubItem) {
	wanted := p.b.eventsWanted()
	for _, it := range items {
		if it.ev.Kind != "" && !wanted {
			continue
		}
		select {
		case p.in <- it:
		default:
			select {
			case p.in <- pubItem{ev: backend.Event{Kind: backend.EventResync}}:
			default:
			}
		}
	}
}

// eventsWanted reports whether events must be published: this process,
// or another (the subscribers table), has subscribers.
func (b *Backend) eventsWanted() bool {
	return b.hub.events.Len() > 0 || b.hub.remoteSubs.Load()
}

// wake wakes this process's waiters on the queues at once and the other
// processes' through NOTIFY.
func (b *Backend) wake(queues ...string) {
	for _, q := range queues {
		b.hub.wakeQueue(q)
		b.pub.send(pubItem{wake: q})
	}
}

// eventTime is an event's At: the test clock when there is one (the
// database's clock() then returns it too), else this host's clock, which
// for an event is near enough to the database's.
func (b *Backend) eventTime() time.Time {
	if b.opts.Clock != nil {
		return b.opts.Clock.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC()
}

// announce publishes task_update events for tasks that changed.
func (b *Backend) announce(tasks ...*backend.Task) {
	now := b.eventTime()
	for _, t := range tasks {
		b.pub.send(pubItem{ev: backend.EventOf(t, now)})
	}
}

func (p *publisher) run() {
	for {
		var first pubItem
		select {
		case first = <-p.in:
		case <-p.b.ctx.Done():
			return
		}
		items := []pubItem{first}
	gather:
		for len(items) < 4096 {
			select {
			case it := <-p.in:
				items = append(items, it)
			default:
				break gather
			}
		}
		channels, payloads := p.encode(items)
		ctx, cancel := context.WithTimeout(p.b.ctx, 30*time.Second)
		_, err := p.b.pool.Exec(ctx, "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS x(c, p)", channels, payloads)
		cancel()
		if err != nil && p.b.ctx.Err() == nil {
			p.b.log.Warn("postgres: publishing events failed; subscribers will resync", "err", err)
			p.b.hub.wakeAll()
			p.send(pubItem{ev: backend.Event{Kind: backend.EventResync}})
		}
	}
}

// encode turns items into notifications: one per queue to wake, and the
// events as JSON arrays of at most maxNotify bytes.
func (p *publisher) encode(items []pubItem) (channels, payloads []string) {
	woken := map[string]bool{}
	var buf []byte
	flush := func() {
		if len(buf) > 0 {
			channels = append(channels, p.b.eventChannel())
			payloads = append(payloads, string(append(buf, ']')))
			buf = buf[:0]
		}
	}
	for _, it := range items {
		if it.cancel != "" {
			channels = append(channels, p.b.cancelChannel())
			payloads = append(payloads, it.cancel)
			continue
		}
		if it.ev.Kind == "" {
			if !woken[it.wake] {
				woken[it.wake] = true
				channels = append(channels, p.b.wakeChannel())
				payloads = append(payloads, it.wake)
			}
			continue
		}
		e := it.ev
		if e.At.IsZero() {
			e.At = p.b.eventTime()
		}
		js, err := json.Marshal(e)
		if err == nil && len(js) > maxNotify-2 && e.Task != nil {
			// A large result or error does not fit a notification: the
			// event goes without its result and with the error cut.
			t := *e.Task
			t.Result = nil
			if len(t.Error) > 1000 {
				t.Error = t.Error[:1000]
			}
			e.Task = &t
			js, err = json.Marshal(e)
		}
		if err != nil || len(js) > maxNotify-2 {
			js, _ = json.Marshal(backend.Event{Kind: backend.EventResync, At: e.At})
		}
		if len(buf)+len(js)+2 > maxNotify {
			flush()
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, js...)
	}
	flush()
	return channels, payloads
}
