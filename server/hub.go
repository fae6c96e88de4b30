package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// The hub keeps the events of its one backend subscription in a ring
// that every client reads from its own cursor. An event is encoded and
// stored once, however many clients watch; one broadcast (a channel
// closed and replaced) wakes every waiting client, and a client with
// nothing to read costs nothing. Handing each event to each client
// instead (a channel send per event per client) cost more than the
// submits that made the events once 500 clients watched.
//
// A client that falls so far behind that the ring has dropped events it
// had not read gets a resync in their place (it should reload what it
// shows) and goes on from the oldest event still held. The ring holds
// the events of all clients, so a client whose filter matched none of
// the dropped events may get a resync it did not strictly need; that is
// harmless, and only a client that has not read for ringEvents events
// can get one.

// ringEvents is how many events the ring holds. At 40,000 events a
// second (a Redis-backed cluster at full speed) it covers 400ms, more
// than the longest pause between two writes to a client (maxBatchInterval).
const ringEvents = 16384

// ringBytes bounds the bytes of the events the ring holds, whatever their
// size: the oldest are dropped first.
const ringBytes = 32 << 20

// The interval between two writes of events to one WebSocket client
// (a pause ends at the next multiple of it, see nextBatchTime) grows with
// the number of clients, by writeBudgetPerClient each, up to
// maxBatchInterval: all clients together then cost about
// 1/writeBudgetPerClient writes a second (5,000) however many events
// there are, while a few clients still see each event at once. 500
// clients get a write every 100ms, which is also the most an event waits
// before it leaves for a dashboard; a lone event always goes out at once.
const (
	writeBudgetPerClient = 200 * time.Microsecond
	maxBatchInterval     = 100 * time.Millisecond
)

// batchInterval is the interval between two writes to one client.
func (h *hub) batchInterval() time.Duration {
	return min(maxBatchInterval, time.Duration(h.count.Load())*writeBudgetPerClient)
}

// hub holds one backend subscription while any client listens, and keeps
// its events, each encoded once as the JSON message every client that
// wants it is sent, for the clients to read. A slow client never slows
// the others or the backend: the ring moves on without it. On Redis the
// subscription carries the events of every process, so every server's
// clients see everything.
type hub struct {
	b        backend.Backend
	log      *slog.Logger
	size     int // ring capacity in events (ringEvents but in tests)
	maxBytes int // ring capacity in bytes (ringBytes but in tests)

	// mu guards everything below. Clients reading the ring share it;
	// the pump appending and join/leave hold it alone.
	mu      sync.RWMutex
	ring    []ringEntry // event seq is at ring[seq%size]
	head    uint64      // seq of the next event appended
	tail    uint64      // seq of the oldest event held
	bytes   int         // bytes of the messages held
	wake    chan struct{}
	clients map[*listener]struct{}
	count   atomic.Int64       // len(clients), read without the lock
	cancel  context.CancelFunc // ends the backend subscription
	gen     int                // which subscription is current
	closed  bool
}

// ringEntry is one event as the ring holds it: what the filters look at,
// and the message the clients are sent, as one whole WebSocket frame.
// The pump writes the frames of successive events next to each other in
// large chunks, so a client that wants a run of them sends the run as one
// piece, however many events it holds.
type ringEntry struct {
	kind, task, queue string
	msg               []byte // the frame, shared by the clients: read only
}

// frameChunk is the size of the chunks the pump writes frames into.
const frameChunk = 1 << 20

// frameArena is where one pump writes its frames.
type frameArena struct{ buf []byte }

// frame writes msg as one frame and returns it. Its capacity runs on to
// the end of the chunk, which later frames fill: readers must only read
// it, and read only tells from that whether two frames are adjacent.
func (a *frameArena) frame(msg []byte) []byte {
	n := 10 + len(msg)
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(frameChunk, n))
	}
	at := len(a.buf)
	a.buf = appendFrameHeader(a.buf, len(msg))
	a.buf = append(a.buf, msg...)
	return a.buf[at:len(a.buf)]
}

// adjacent says whether b starts where a ends in memory.
func adjacent(a, b []byte) bool {
	return len(a) < cap(a) && len(b) > 0 && &a[:len(a)+1][len(a)] == &b[0]
}

// listener is one client's place in the ring. next is read and written
// only by the client's own goroutine (under the hub's read lock).
type listener struct {
	filter eventFilter
	next   uint64        // seq of the next event to read
	gone   chan struct{} // closed when the hub drops the listener
	reason string        // why it was dropped
}

func newHub(b backend.Backend, log *slog.Logger) *hub {
	return newHubSize(b, log, ringEvents)
}

// newHubSize returns a hub whose ring holds size events.
func newHubSize(b backend.Backend, log *slog.Logger, size int) *hub {
	return &hub{b: b, log: log, size: size, maxBytes: ringBytes, ring: make([]ringEntry, size),
		wake: make(chan struct{}), clients: map[*listener]struct{}{}}
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
	l := &listener{filter: f, next: h.head, gone: make(chan struct{})}
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

// pumpBatch is how many events the pump appends under one lock and one
// wake-up, when that many are waiting.
const pumpBatch = 256

// pump appends one subscription's events to the ring. Events of a
// subscription that is no longer current (its last listener left, a new
// one began) are dropped, so no client sees an event twice.
func (h *hub) pump(events <-chan backend.Event, gen int) {
	batch := make([]ringEntry, 0, pumpBatch)
	var arena frameArena
	for e := range events {
		batch = append(batch[:0], h.entry(&arena, e))
	more:
		for len(batch) < pumpBatch {
			select {
			case e, ok := <-events:
				if !ok {
					break more
				}
				batch = append(batch, h.entry(&arena, e))
			default:
				break more
			}
		}
		h.mu.Lock()
		if gen == h.gen && h.cancel != nil {
			h.publishLocked(batch)
		}
		h.mu.Unlock()
		clear(batch) // drop the references to the messages
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

// entry encodes and frames e once for every client; its msg is nil when
// e cannot be encoded (logged).
func (h *hub) entry(a *frameArena, e backend.Event) ringEntry {
	msg, err := json.Marshal(e)
	if err != nil {
		h.log.Warn("encode an event", "kind", e.Kind, "err", err)
		return ringEntry{}
	}
	en := ringEntry{kind: e.Kind, queue: e.Queue, msg: a.frame(msg)}
	if e.Task != nil {
		en.task, en.queue = e.Task.ID, e.Task.Queue
	}
	return en
}

// publishLocked appends the entries (but those that could not be
// encoded) and wakes every waiting listener. h.mu is held.
func (h *hub) publishLocked(entries []ringEntry) {
	for _, en := range entries {
		if en.msg != nil {
			h.append(en)
		}
	}
	close(h.wake)
	h.wake = make(chan struct{})
}

// append adds en at the head, dropping the oldest events to stay within
// the ring's size and maxBytes. h.mu is held.
func (h *hub) append(en ringEntry) {
	for h.head-h.tail >= uint64(h.size) || h.tail < h.head && h.bytes+len(en.msg) > h.maxBytes {
		old := &h.ring[h.tail%uint64(h.size)]
		h.bytes -= len(old.msg)
		*old = ringEntry{}
		h.tail++
	}
	h.ring[h.head%uint64(h.size)] = en
	h.bytes += len(en.msg)
	h.head++
}

// read appends to dst the frames of the events l has not read that
// match its filter, oldest first, stopping once they reach maxBytes (at
// least one is read when any is waiting), and moves l past them. Frames
// next to each other in memory are joined into one slice. A
// listener that the ring has left behind gets a resync first. When
// nothing was waiting, wake is closed once something is; pending says
// whether events are left for the next read. Only l's own goroutine may
// call read.
func (h *hub) read(l *listener, dst [][]byte, maxBytes int) (msgs [][]byte, pending bool, wake <-chan struct{}) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if l.next < h.tail {
		msg := resyncMessage()
		dst = append(dst, append(appendFrameHeader(make([]byte, 0, 10+len(msg)), len(msg)), msg...))
		l.next = h.tail
	}
	size, first := 0, len(dst)
	for ; l.next < h.head && (size < maxBytes || len(dst) == first); l.next++ {
		en := &h.ring[l.next%uint64(h.size)]
		if !l.filter.match(en) {
			continue
		}
		size += len(en.msg)
		if n := len(dst); n > first && adjacent(dst[n-1], en.msg) {
			dst[n-1] = dst[n-1][:len(dst[n-1])+len(en.msg)]
			continue
		}
		dst = append(dst, en.msg)
	}
	return dst, l.next < h.head, h.wake
}

// waiting says whether l has events to read, and returns the channel
// closed when the next event is appended.
func (h *hub) waiting(l *listener) (bool, <-chan struct{}) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return l.next < h.head, h.wake
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
