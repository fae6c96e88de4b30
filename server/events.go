package server

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// eventFilter selects the events one client wants.
type eventFilter struct{ task, queue string }

func (f eventFilter) match(en *ringEntry) bool {
	switch en.kind {
	case backend.EventResync:
		return true
	case backend.EventTaskUpdate:
		return en.task != "" && (f.task == "" || en.task == f.task) && (f.queue == "" || en.queue == f.queue)
	case backend.EventQueueUpdate:
		return f.task == "" && (f.queue == "" || en.queue == f.queue)
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
	// pace ends the pause after a write: one timer, reset for each.
	pace := time.NewTimer(time.Hour)
	defer pace.Stop()
	var nextWrite time.Time
	var msgs [][]byte
	for {
		// At most one write per batch interval: under a burst the
		// events gather in the ring meanwhile and go out in one write,
		// so the watchers cost a bounded number of writes a second, not
		// one per event each. The pause is slept out before the ring is
		// looked at, so that under a steady stream a client is woken
		// once per write (by its timer), not also by every broadcast
		// meanwhile. A lone event goes out at once: an idle client waits
		// for the broadcast.
		var paused <-chan time.Time
		var wake <-chan struct{}
		if wait := time.Until(nextWrite); wait > 0 {
			pace.Reset(wait)
			paused = pace.C
		} else if pending, w := s.events.waiting(l); !pending {
			wake = w
		}
		if paused != nil || wake != nil {
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
			case <-paused:
			case <-wake:
			}
			continue
		}
		for more := true; more; {
			msgs, more, _ = s.events.read(l, msgs[:0], maxBatchBytes)
			if len(msgs) == 0 {
				break
			}
			if err := s.writeEvents(ctx, conn, bw.conn, msgs); err != nil {
				return
			}
		}
		clear(msgs) // drop the references to the events
		// Paced even when the filter matched nothing, so that a filtered
		// client is woken at most once an interval by others' events.
		nextWrite = nextBatchTime(time.Now(), s.events.batchInterval())
	}
}

// nextBatchTime is when a client that wrote at now may write again: the
// next multiple of interval, the same instant for every client. Paused
// clients are thus woken together, by timers the runtime fires in one
// pass, and write one after another: a reader process (or the kernel's
// loopback) is woken once for a run of writes rather than once for each,
// which on a busy machine cost more than the bytes. A client writes at
// most once per interval on average (at most twice in one when a lone
// event comes just before the next multiple).
func nextBatchTime(now time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return now
	}
	return now.Add(interval - time.Duration(now.UnixNano()%int64(interval)))
}

// writeEvents writes runs of whole frames, one event per WebSocket
// message, in one write to the connection: the hub's bytes, framed once
// for every client (a server's frames are not masked), go out unchanged.
// Only the event loop writes data frames; the library writes nothing but
// its small control frames, each whole in one write, so the two never
// interleave. A client that cannot take a batch in 10s is gone or
// hopelessly slow; the ring has moved on without it.
func (s *Server) writeEvents(ctx context.Context, conn *websocket.Conn, bc *batchConn, runs [][]byte) error {
	if bc == nil { // not a batchConn (cannot happen with net/http): the library writes
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, r := range runs {
			for _, msg := range framePayloads(r) {
				if err := conn.Write(wctx, websocket.MessageText, msg); err != nil {
					return err
				}
			}
		}
		return nil
	}
	bc.hold()
	bc.appendFramed(runs)
	return bc.send(10 * time.Second)
}
