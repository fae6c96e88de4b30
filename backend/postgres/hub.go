package postgres

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/fanout"
	"github.com/taskmill/taskmill/internal/wake"
)

// hub is the receiving side of LISTEN/NOTIFY in one process: one
// connection listens on the schema's wake and event channels, wakes the
// Lease calls blocked on a queue that got work, and fans events out to
// subscribers. When the connection drops, every waiter is woken (so it
// looks for itself) and every subscriber gets a resync; the hub then
// reconnects.
type hub struct {
	b   *Backend
	cfg *pgx.ConnConfig

	events *fanout.Fanout // Subscribe's subscribers

	mu        sync.Mutex
	waiters   map[string]map[*waiter]struct{}
	listening bool
	everUp    bool
	up        chan struct{} // closed when LISTEN first works
	cancels   map[chan string]struct{}

	// remoteSubs: some other process has subscribers, so events must be
	// published (see Backend.eventsWanted).
	remoteSubs atomic.Bool
	subsGen    chan struct{} // poked when the local subscriber count changes
}

// waiter is one idle Lease, woken when one of its queues may have work.
type waiter struct{ sig *wake.Signal }

func (b *Backend) wakeChannel() string   { return "taskmill_wake_" + b.s }
func (b *Backend) eventChannel() string  { return "taskmill_events_" + b.s }
func (b *Backend) cancelChannel() string { return "taskmill_cancel_" + b.s }
func (b *Backend) subsChannel() string   { return "taskmill_subs_" + b.s }

func newHub(b *Backend, cfg *pgx.ConnConfig) *hub {
	h := &hub{b: b, cfg: cfg, waiters: map[string]map[*waiter]struct{}{},
		up: make(chan struct{}), cancels: map[chan string]struct{}{}, subsGen: make(chan struct{}, 1)}
	// Subscribe pokes the advertiser once its subscriber is added (a
	// First hook runs before, when the advertiser could still count
	// none); the last one to leave pokes it through Last, so the row goes.
	h.events = fanout.NewWithHooks(fanout.DefaultBuffer, func() time.Time { return time.Now().UTC() },
		fanout.Hooks{Last: h.pokeAdvertise})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		h.advertise()
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		h.run()
	}()
	return h
}

func (h *hub) run() {
	backoff := 100 * time.Millisecond
	for h.b.ctx.Err() == nil {
		err := h.listen()
		if h.b.ctx.Err() != nil {
			break
		}
		h.b.log.Warn("postgres: LISTEN connection lost; workers poll until it is back", "err", err)
		h.setListening(false)
		select {
		case <-time.After(backoff):
		case <-h.b.ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	h.events.Close()
	h.mu.Lock()
	for ch := range h.cancels {
		close(ch)
		delete(h.cancels, ch)
	}
	h.mu.Unlock()
}

// listen holds one LISTEN connection until it fails or the backend closes.
func (h *hub) listen() error {
	ctx := h.b.ctx
	c, err := pgx.ConnectConfig(ctx, h.cfg)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	for _, ch := range []string{h.b.wakeChannel(), h.b.eventChannel(), h.b.cancelChannel(), h.b.subsChannel()} {
		if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	h.setListening(true)
	h.refreshRemoteSubs(ctx)
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case h.b.wakeChannel():
			h.wakeQueue(n.Payload)
		case h.b.cancelChannel():
			h.deliverCancel(n.Payload)
		case h.b.subsChannel():
			if n.PID != c.PgConn().PID() {
				h.refreshRemoteSubs(ctx)
			}
		case h.b.eventChannel():
			var evs []backend.Event
			if err := json.Unmarshal([]byte(n.Payload), &evs); err != nil {
				h.b.log.Warn("postgres: undecodable event notification", "err", err)
				h.resyncAll()
				continue
			}
			h.events.Publish(evs...)
		}
	}
}

// setListening records whether notifications flow. Going down, or coming
// back up, wakes every waiter and owes every subscriber a resync: what
// happened meanwhile was not seen. The first time up is no news.
func (h *hub) setListening(on bool) {
	h.mu.Lock()
	was, first := h.listening, on && !h.everUp
	h.listening = on
	if on && !h.everUp {
		h.everUp = true
		close(h.up)
	}
	h.mu.Unlock()
	if was != on && !first {
		h.wakeAll()
		h.resyncAll()
	}
}

// register adds a waiter for work on the queues.
func (h *hub) register(queues []string) *waiter {
	w := &waiter{sig: wake.New()}
	h.mu.Lock()
	for _, q := range queues {
		m := h.waiters[q]
		if m == nil {
			m = map[*waiter]struct{}{}
			h.waiters[q] = m
		}
		m[w] = struct{}{}
	}
	h.mu.Unlock()
	return w
}

func (h *hub) unregister(w *waiter, queues []string) {
	h.mu.Lock()
	for _, q := range queues {
		if m := h.waiters[q]; m != nil {
			delete(m, w)
			if len(m) == 0 {
				delete(h.waiters, q)
			}
		}
	}
	h.mu.Unlock()
}

func (h *hub) wakeQueue(q string) {
	h.mu.Lock()
	for w := range h.waiters[q] {
		w.sig.Broadcast()
	}
	h.mu.Unlock()
}

func (h *hub) wakeAll() {
	h.mu.Lock()
	for _, m := range h.waiters {
		for w := range m {
			w.sig.Broadcast()
		}
	}
	h.mu.Unlock()
}

func (h *hub) pokeAdvertise() {
	select {
	case h.subsGen <- struct{}{}:
	default:
	}
}

// advertise keeps this process's row in the subscribers table while it
// has subscribers (refreshed every 10 s, expiring after 30 s), and
// tells the other processes when that changes, so that they publish
// events only while someone listens: with no dashboard or API event
// stream open, the hot path sends no event NOTIFY at all.
func (h *hub) advertise() {
	id := newSecret()
	advertised := false
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-h.b.ctx.Done():
			if advertised {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = h.b.pool.Exec(ctx, `DELETE FROM `+h.b.t("subscribers")+` WHERE id = $1`, id)
				cancel()
			}
			return
		case <-h.subsGen:
		case <-tick.C:
			h.refreshRemoteSubs(h.b.ctx)
		}
		want := h.events.Len() > 0
		if !want && !advertised {
			continue
		}
		ctx, cancel := context.WithTimeout(h.b.ctx, 10*time.Second)
		var err error
		if want {
			_, err = h.b.pool.Exec(ctx, `INSERT INTO `+h.b.t("subscribers")+` (id, expires_at) VALUES ($1, now() + interval '30 seconds')
				ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, id)
		} else {
			_, err = h.b.pool.Exec(ctx, `DELETE FROM `+h.b.t("subscribers")+` WHERE id = $1`, id)
		}
		if err == nil && want != advertised {
			_, err = h.b.pool.Exec(ctx, `SELECT pg_notify($1, '')`, h.b.subsChannel())
			advertised = want
		}
		cancel()
		if err != nil && h.b.ctx.Err() == nil {
			h.b.log.Warn("postgres: advertising event subscribers", "err", err)
		}
	}
}

// refreshRemoteSubs reads whether any other process has subscribers.
func (h *hub) refreshRemoteSubs(ctx context.Context) {
	var any bool
	err := h.b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+h.b.t("subscribers")+` WHERE expires_at > now())`).Scan(&any)
	if err != nil {
		h.remoteSubs.Store(true) // unsure: publish
		return
	}
	h.remoteSubs.Store(any)
}

// watchCancels registers a receiver of canceled task ids.
func (h *hub) watchCancels() chan string {
	ch := make(chan string, 256)
	h.mu.Lock()
	h.cancels[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unwatchCancels(ch chan string) {
	h.mu.Lock()
	if _, ok := h.cancels[ch]; ok {
		delete(h.cancels, ch)
		close(ch)
	}
	h.mu.Unlock()
}

func (h *hub) deliverCancel(id string) {
	h.mu.Lock()
	for ch := range h.cancels {
		select {
		case ch <- id:
		default: // far behind: the worker learns it at its next Extend
		}
	}
	h.mu.Unlock()
}

// resyncAll sends every subscriber a resync, or owes it one when its
// buffer is full: notifications were missed and will not come again.
func (h *hub) resyncAll() {
	h.events.Lost()
	h.events.Flush()
}

// Subscribe streams the events of every process sharing the schema until
// ctx ends or the backend closes. Events are sent after the change
// committed; a subscriber that falls behind, or that misses events while
// the LISTEN connection reconnects, receives one EventResync in their
// place.
func (b *Backend) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	ch, err := b.hub.events.Subscribe(ctx)
	b.hub.pokeAdvertise()
	return ch, err
}

var _ backend.CancelWatcher = (*Backend)(nil)

// WatchCancels streams the ids of tasks canceled by any process (one
// NOTIFY per cancel, sent whether or not anyone subscribes to events)
// until ctx ends. Ids are dropped when the receiver falls far behind; a
// worker still learns of the cancellation at its next Extend.
func (b *Backend) WatchCancels(ctx context.Context) (<-chan string, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	ch := b.hub.watchCancels()
	go func() {
		select {
		case <-ctx.Done():
		case <-b.ctx.Done():
		}
		b.hub.unwatchCancels(ch)
	}()
	return ch, nil
}
