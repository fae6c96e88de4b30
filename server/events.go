package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// clientBuffer is how many events a WebSocket client may fall behind
// before it loses events and is told to resync.
const clientBuffer = 1024

// The shortest time between two writes of events to one WebSocket client
// grows with the number of clients, by writeBudgetPerClient each, up to
// maxBatchInterval: all clients together then cost at most about
// 1/writeBudgetPerClient writes a second (2,500) however many events
// there are, while a few clients still see each event at once. 500
// clients get a write every 200ms; a lone event always goes out at once.
const (
	writeBudgetPerClient = 400 * time.Microsecond
	maxBatchInterval     = 250 * time.Millisecond
)

// batchInterval is the shortest time between two writes to one client.
func (h *hub) batchInterval() time.Duration {
	return min(maxBatchInterval, time.Duration(h.count.Load())*writeBudgetPerClient)
}

// hub holds one backend subscription while any client listens, and fans
// its events out, each encoded once as the JSON message every client that
// wants it is sent. A slow client never slows the others or the backend:
// when its buffer is full it loses events and gets one resync in their
// place once it has room again. On Redis the subscription carries the
// events of every process, so every server's clients see everything.
type hub struct {
	b   backend.Backend
	log *slog.Logger

	mu      sync.Mutex
	clients map[*listener]struct{}
	count   atomic.Int64       // len(clients), read without the lock
	cancel  context.CancelFunc // ends the backend subscription
	gen     int                // which subscription is current
	closed  bool
}

type listener struct {
	filter  eventFilter
	ch      chan []byte // JSON messages, shared by the listeners: read only
	dropped bool
	gone    chan struct{} // closed when the hub drops the listener
	reason  string        // why it was dropped
}

func newHub(b backend.Backend, log *slog.Logger) *hub {
	return &hub{b: b, log: log, clients: map[*listener]struct{}{}}
}

// join adds a listener, subscribing to the backend if it is the first.
// Once join returns, every later event that matches f reaches the listener
// (or a resync does).
func (h *hub) join(f eventFilter) (*listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		events, err := h.b.Subscribe(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		h.cancel = cancel
		h.gen++
		go h.pump(events, h.gen)
	}
	l := &listener{filter: f, ch: make(chan []byte, clientBuffer), gone: make(chan struct{})}
	h.clients[l] = struct{}{}
	h.count.Store(int64(len(h.clients)))
	return l, nil
}

// leave removes a listener; the last one out ends the subscription.
func (h *hub) leave(l *listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[l]; !ok {
		return
	}
	delete(h.clients, l)
	h.count.Store(int64(len(h.clients)))
	close(l.gone)
	if len(h.clients) == 0 && h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

// pump delivers one subscription's events. Events of a subscription that
// is no longer current (its last listener left, a new one began) are
// dropped, so no client sees an event twice. Each event is encoded once,
// when the first listener wants it, and the same bytes go to every
// listener.
func (h *hub) pump(events <-chan backend.Event, gen int) {
	for e := range events {
		h.mu.Lock()
		if gen != h.gen || h.cancel == nil {
			h.mu.Unlock()
			continue
		}
		var msg, resync []byte
		for l := range h.clients {
			if e.Kind != backend.EventResync && !l.filter.match(e) {
				continue
			}
			if msg == nil {
				var err error
				if msg, err = json.Marshal(e); err != nil {
					h.log.Warn("encode an event", "kind", e.Kind, "err", err)
					break
				}
			}
			if l.dropped {
				if resync == nil {
					resync = resyncMessage()
				}
				select {
				case l.ch <- resync:
					l.dropped = false
				default:
					continue
				}
			}
			select {
			case l.ch <- msg:
			default:
				l.dropped = true
			}
		}
		h.mu.Unlock()
	}
	// The channel closed. When that was not our doing (the backend
	// closed or lost its subscription), drop the listeners so their
	// clients reconnect and resubscribe, rather than wait forever.
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen == h.gen && h.cancel != nil {
		h.cancel()
		h.cancel = nil
		for l := range h.clients {
			delete(h.clients, l)
			l.reason = "the event subscription ended; reconnect"
			close(l.gone)
		}
		h.count.Store(0)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for l := range h.clients {
		delete(h.clients, l)
		l.reason = "server shutting down"
		close(l.gone)
	}
	h.count.Store(0)
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

// resyncMessage tells a client that it lost events and should reload.
func resyncMessage() []byte {
	msg, _ := json.Marshal(backend.Event{Kind: backend.EventResync, At: time.Now().UTC()})
	return msg
}

// eventFilter selects the events one client wants.
type eventFilter struct{ task, queue string }

func (f eventFilter) match(e backend.Event) bool {
	switch e.Kind {
	case backend.EventResync:
		return true
	case backend.EventTaskUpdate:
		return e.Task != nil && (f.task == "" || e.Task.ID == f.task) && (f.queue == "" || e.Task.Queue == f.queue)
	case backend.EventQueueUpdate:
		return f.task == "" && (f.queue == "" || e.Queue == f.queue)
	}
	return f.task == "" && f.queue == ""
}

// GET /api/events?task=&queue=: a WebSocket of JSON events, server to
// client: task_update, queue_update, worker_update, and resync when events
// were lost (the client should reload what it shows).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "task", "queue", "access_token"); err != nil {
		s.fail(w, r, err)
		return
	}
	f := eventFilter{task: r.URL.Query().Get("task"), queue: r.URL.Query().Get("queue")}
	if f.task != "" {
		if err := taskmill.ValidateName("task", f.task); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if f.queue != "" {
		if err := taskmill.ValidateName("queue", f.queue); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if !s.websocketOriginOK(r) {
		writeError(w, http.StatusForbidden, apiError{Code: "cross_origin", Field: "Origin",
			Message: "a WebSocket from origin " + r.Header.Get("Origin") + " is refused: not this server's origin nor one of its --cors-origin values"})
		return
	}
	l, err := s.events.join(f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.events.leave(l)
	// websocketOriginOK has checked the origin, scheme included, which
	// the library's host patterns cannot.
	bw := &batchingWriter{ResponseWriter: w}
	conn, err := websocket.Accept(bw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	// The client sends nothing; reading keeps pings and the close
	// handshake working and tells us when it goes away.
	ctx := conn.CloseRead(r.Context())
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	var nextWrite time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.gone:
			conn.Close(websocket.StatusGoingAway, l.reason)
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case msg := <-l.ch:
			// At most one write per batch interval: under a burst the
			// events gather meanwhile and go out in one write, so the
			// watchers cost a bounded number of writes a second, not
			// one per event each. A lone event goes out at once.
			if wait := time.Until(nextWrite); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-l.gone:
					t.Stop()
					conn.Close(websocket.StatusGoingAway, l.reason)
					return
				case <-t.C:
				}
			}
			if err := s.writeEvents(ctx, conn, bw.conn, l, msg); err != nil {
				return
			}
			nextWrite = time.Now().Add(s.events.batchInterval())
		}
	}
}

// writeEvents writes msg and every event already waiting for the client,
// one event per WebSocket message, in one write to the connection: the
// frames are appended to the batch as they are (a server's frames are not
// masked, so the hub's bytes go out unchanged) and sent together. Only
// this loop writes data frames; the library writes nothing but its small
// control frames, each whole in one write, so the two never interleave.
// A client that cannot take a batch in 10s is gone or hopelessly slow;
// its buffer has already stopped filling.
func (s *Server) writeEvents(ctx context.Context, conn *websocket.Conn, bc *batchConn, l *listener, msg []byte) error {
	if bc == nil { // not a batchConn (cannot happen with net/http): the library writes
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, msg)
	}
	bc.hold()
	bc.appendFrame(msg) // the first always fits
	for more := true; more; {
		select {
		case msg = <-l.ch:
			if !bc.appendFrame(msg) {
				if err := bc.send(10 * time.Second); err != nil {
					return err
				}
				bc.hold()
				bc.appendFrame(msg)
			}
		default:
			more = false
		}
	}
	return bc.send(10 * time.Second)
}
