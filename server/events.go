package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// clientBuffer is how many events a WebSocket client may fall behind
// before it loses events and is told to resync.
const clientBuffer = 256

// hub holds one backend subscription while any client listens, and fans
// its events out. A slow client never slows the others or the backend:
// when its buffer is full it loses events and gets one resync in their place.
type hub struct {
	b   backend.Backend
	log *slog.Logger

	mu      sync.Mutex
	clients map[*listener]struct{}
	cancel  context.CancelFunc // ends the backend subscription
	closed  bool
}

type listener struct {
	ch      chan backend.Event
	dropped bool
	gone    chan struct{} // closed when the hub drops the listener
}

func newHub(b backend.Backend, log *slog.Logger) *hub {
	return &hub{b: b, log: log, clients: map[*listener]struct{}{}}
}

// join adds a listener, subscribing to the backend if it is the first.
func (h *hub) join() (*listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, backend.ErrClosed
	}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		events, err := h.b.Subscribe(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		h.cancel = cancel
		go h.pump(events)
	}
	l := &listener{ch: make(chan backend.Event, clientBuffer), gone: make(chan struct{})}
	h.clients[l] = struct{}{}
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
	close(l.gone)
	if len(h.clients) == 0 && h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

func (h *hub) pump(events <-chan backend.Event) {
	for e := range events {
		h.mu.Lock()
		for l := range h.clients {
			if l.dropped {
				select {
				case l.ch <- backend.Event{Kind: backend.EventResync, At: time.Now().UTC()}:
					l.dropped = false
				default:
					continue
				}
			}
			select {
			case l.ch <- e:
			default:
				l.dropped = true
			}
		}
		h.mu.Unlock()
	}
	// The subscription ended (backend closed or the last client left):
	// tell whoever is still here to resync once a new one starts.
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for l := range h.clients {
		delete(h.clients, l)
		close(l.gone)
	}
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
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
	l, err := s.events.join()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.events.leave(l)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	// The client sends nothing; reading keeps pings and the close
	// handshake working and tells us when it goes away.
	ctx := conn.CloseRead(r.Context())
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.gone:
			conn.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case e := <-l.ch:
			if !f.match(e) {
				continue
			}
			msg, err := json.Marshal(e)
			if err != nil {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
