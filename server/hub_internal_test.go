package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

func quietHubLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// readUntil reads l's messages until it has n of the kind task_update
// (every other message too is returned), failing after 30s.
func readUntil(t *testing.T, h *hub, l *listener, n int) []backend.Event {
	t.Helper()
	var got []backend.Event
	tasks := 0
	deadline := time.After(30 * time.Second)
	for tasks < n {
		runs, _, wake := h.read(l, nil, 1<<20)
		msgs := payloads(runs)
		for _, m := range msgs {
			e := decodeEvent(t, m)
			got = append(got, e)
			if e.Kind == backend.EventTaskUpdate {
				tasks++
			}
		}
		if len(msgs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("read %d of %d task events", tasks, n)
		}
	}
	return got
}

func enqueueNamed(t *testing.T, b backend.Backend, id string) {
	t.Helper()
	task := &backend.Task{ID: id, Type: "x", Queue: "q", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now().UTC(), Payload: json.RawMessage(`{}`)}
	if _, err := b.Enqueue(context.Background(), []*backend.Task{task}); err != nil {
		t.Fatal(err)
	}
}

// TestSlowListenerGetsResync: a listener that reads nothing never holds
// up the backend or the other listeners; once the ring has dropped
// events it had not read, it is told to resync, then gets the events the
// ring still holds, in order.
func TestSlowListenerGetsResync(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const size = 8
	h := newHubSize(b, quietHubLogger(), size)
	defer h.close()
	slow, err := h.join(eventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.join(eventFilter{queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	// The fast listener reads each half ring as it comes, so it never
	// falls behind; the slow one reads nothing meanwhile.
	const rounds = 6
	for round := range rounds {
		var ids []string
		for i := range size / 2 {
			ids = append(ids, fmt.Sprintf("t%02d", round*size/2+i))
			enqueueNamed(t, b, ids[i])
		}
		if got := taskIDs(readUntil(t, h, fast, size/2)); !slices.Equal(got, ids) {
			t.Fatalf("round %d: the fast listener read %v, want %v", round, got, ids)
		}
	}
	// 24 events went by; the ring holds at most the last 8 (fewer when
	// the backend published events of other kinds meanwhile). The slow
	// listener gets a resync, then the task events still held, in order.
	runs, pending, _ := h.read(slow, nil, 1<<20)
	msgs := payloads(runs)
	if pending {
		t.Error("one read of 1 MB did not take the whole ring")
	}
	if len(msgs) == 0 {
		t.Fatal("the slow listener read nothing")
	}
	if e := decodeEvent(t, msgs[0]); e.Kind != backend.EventResync {
		t.Fatalf("first after falling behind: %+v", e)
	}
	var rest []backend.Event
	for _, m := range msgs[1:] {
		rest = append(rest, decodeEvent(t, m))
	}
	got := taskIDs(rest)
	var want []string
	for i := rounds*size/2 - len(got); i < rounds*size/2; i++ {
		want = append(want, fmt.Sprintf("t%02d", i))
	}
	if len(got) == 0 || !slices.Equal(got, want) {
		t.Fatalf("after the resync the slow listener read tasks %v, want the last ones in order", got)
	}
	// Caught up: the next event comes with no second resync.
	enqueueNamed(t, b, "last")
	for _, e := range readUntil(t, h, slow, 1) {
		if e.Kind == backend.EventResync {
			t.Fatal("a caught-up listener got a resync")
		}
	}
	// Leaving ends the subscription; joining again starts a fresh one,
	// which sees only later events.
	h.leave(slow)
	h.leave(fast)
	if h.cancel != nil {
		t.Fatal("the subscription outlived its last listener")
	}
	again, err := h.join(eventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	enqueueNamed(t, b, "again")
	if got := taskIDs(readUntil(t, h, again, 1)); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("after rejoining got tasks %v", got)
	}
	// Closing the hub drops its listeners so their clients reconnect.
	h.close()
	select {
	case <-again.gone:
	case <-time.After(30 * time.Second):
		t.Fatal("close did not drop the listener")
	}
}

// taskIDs lists the ids of the task events among events.
func taskIDs(events []backend.Event) []string {
	var ids []string
	for _, e := range events {
		if e.Kind == backend.EventTaskUpdate {
			ids = append(ids, e.Task.ID)
		}
	}
	return ids
}

// decodeEvent reads one message the hub sends clients.
func decodeEvent(t *testing.T, msg []byte) backend.Event {
	t.Helper()
	var e backend.Event
	if err := json.Unmarshal(msg, &e); err != nil {
		t.Errorf("the hub sent %q: %v", msg, err)
	}
	return e
}

// TestHubEncodesEachEventOnce: every listener that wants an event gets
// the same encoded message (one json.Marshal per event, not per client),
// and a listener whose filter does not match gets nothing.
func TestHubEncodesEachEventOnce(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := newHub(b, quietHubLogger())
	defer h.close()
	all, err := h.join(eventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byQueue, err := h.join(eventFilter{queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.join(eventFilter{queue: "other"})
	if err != nil {
		t.Fatal(err)
	}
	enqueueNamed(t, b, "one")
	recv := func(l *listener) []byte {
		runs, _, _ := h.read(l, nil, 1<<20)
		msgs := payloads(runs)
		for _, m := range msgs {
			if e := decodeEvent(t, m); e.Kind == backend.EventTaskUpdate {
				return m
			}
		}
		t.Fatalf("no task event in %q", msgs)
		return nil
	}
	// Wait until the event is in the ring.
	deadline := time.After(30 * time.Second)
	for {
		pending, wake := h.waiting(all)
		if pending {
			break
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("no event")
		}
	}
	a, q := recv(all), recv(byQueue)
	if e := decodeEvent(t, a); e.Task == nil || e.Task.ID != "one" {
		t.Fatalf("got %s", a)
	}
	if &a[0] != &q[0] {
		t.Error("two listeners got separately encoded copies of one event")
	}
	// The event is in the ring: a listener of another queue reads past
	// it and gets nothing of it.
	runs, _, _ := h.read(other, nil, 1<<20)
	for _, m := range payloads(runs) {
		if e := decodeEvent(t, m); e.Kind == backend.EventTaskUpdate {
			t.Errorf("a listener of queue other got %+v", e)
		}
	}
}

// publish appends entries to h's ring as the pump does.
func publish(h *hub, entries ...ringEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(entries)
}

// testArena frames the entries the tests make, next to each other as
// the pump's are.
var testArena frameArena

// taskEntry is a task_update the ring holds; its message is its name.
func taskEntry(id, queue string) ringEntry {
	return entryOf(backend.EventTaskUpdate, id, queue, id)
}

func entryOf(kind, task, queue, msg string) ringEntry {
	return ringEntry{kind: kind, task: task, queue: queue, msg: testArena.frame([]byte(msg))}
}

// payloads splits the runs of frames read returns into their messages.
func payloads(runs [][]byte) [][]byte {
	var out [][]byte
	for _, r := range runs {
		out = append(out, framePayloads(r)...)
	}
	return out
}

func readAll(h *hub, l *listener) []string {
	var out []string
	for {
		runs, pending, _ := h.read(l, nil, 1<<20)
		for _, m := range payloads(runs) {
			if strings.Contains(string(m), `"resync"`) {
				out = append(out, "resync")
			} else {
				out = append(out, string(m))
			}
		}
		if !pending {
			return out
		}
	}
}

// TestHubRingWraparound: the ring goes round many times; a listener that
// keeps up gets every event in order across the wrap, one that does not
// gets a resync and then the events still held, and the ring keeps
// within its size and its bytes.
func TestHubRingWraparound(t *testing.T) {
	h := newHubSize(nil, quietHubLogger(), 4)
	keeping, lagging := &listener{}, &listener{}
	var want []string
	for i := range 50 {
		id := fmt.Sprintf("e%d", i)
		publish(h, taskEntry(id, "q"))
		want = append(want, id)
		if i%3 == 2 { // three events at a time: within the ring's four
			if got := readAll(h, keeping); !slices.Equal(got, want) {
				t.Fatalf("after %d events the keeping listener read %v, want %v", i+1, got, want)
			}
			want = nil
		}
	}
	if h.head != 50 || h.tail != 46 || h.bytes != 4*(2+3) {
		t.Fatalf("head %d tail %d bytes %d; want 50, 46, %d", h.head, h.tail, h.bytes, 4*(2+3))
	}
	if got := readAll(h, lagging); !slices.Equal(got, []string{"resync", "e46", "e47", "e48", "e49"}) {
		t.Fatalf("the lagging listener read %v", got)
	}
	if got := readAll(h, lagging); len(got) != 0 {
		t.Fatalf("a caught-up listener read %v", got)
	}
	// The bytes bound drops the oldest events first, but never the last.
	h.maxBytes = 10 // one 8-byte frame
	publish(h, taskEntry("aaaaaa", "q"), taskEntry("bbbbbb", "q"))
	if got := readAll(h, lagging); !slices.Equal(got, []string{"resync", "bbbbbb"}) {
		t.Fatalf("with a 10-byte ring the listener read %v", got)
	}
	huge := taskEntry(strings.Repeat("c", 50), "q")
	publish(h, taskEntry("dddddd", "q"), huge)
	if got := readAll(h, lagging); !slices.Equal(got, []string{"resync", strings.Repeat("c", 50)}) {
		t.Fatalf("an event larger than the ring: the listener read %v", got)
	}
	if h.head-h.tail != 1 || h.bytes != 2+50 {
		t.Fatalf("holding %d events, %d bytes; want the one large event", h.head-h.tail, h.bytes)
	}
	// Dropped entries let go of their messages.
	for i := range h.ring {
		if uint64(i) != (h.head-1)%uint64(h.size) && h.ring[i].msg != nil {
			t.Errorf("ring slot %d still holds %q", i, h.ring[i].msg)
		}
	}
}

// TestHubReadBoundsBatches: read stops at maxBytes (taking at least one
// event), says that more is pending, and joins frames that lie next to
// each other into one piece to write.
func TestHubReadBoundsBatches(t *testing.T) {
	h := newHubSize(nil, quietHubLogger(), 16)
	l := &listener{}
	testArena = frameArena{}
	publish(h, taskEntry("aaaa", "q"), taskEntry("bbbb", "q"), taskEntry("cccc", "q"))
	for _, want := range [][]string{{"aaaa", "bbbb"}, {"cccc"}} {
		runs, pending, _ := h.read(l, nil, 12)
		var got []string
		for _, m := range payloads(runs) {
			got = append(got, string(m))
		}
		if !slices.Equal(got, want) || pending != (want[0] == "aaaa") || len(runs) != 1 {
			t.Fatalf("read %v in %d pieces, pending %v; want %v in one piece", got, len(runs), pending, want)
		}
	}
	publish(h, taskEntry(strings.Repeat("d", 20), "q"))
	if runs, _, _ := h.read(l, nil, 8); len(payloads(runs)) != 1 {
		t.Fatalf("an event larger than maxBytes: read %d messages, want it alone", len(payloads(runs)))
	}
	// A filter that skips the middle one of three gets two pieces.
	picky := &listener{filter: eventFilter{queue: "q"}, next: h.head}
	publish(h, taskEntry("x", "q"), taskEntry("y", "r"), taskEntry("z", "q"))
	runs, _, _ := h.read(picky, nil, 1<<20)
	if len(runs) != 2 || string(framePayloads(runs[0])[0]) != "x" || string(framePayloads(runs[1])[0]) != "z" {
		t.Fatalf("reading around a filtered-out event: %q", runs)
	}
}

// TestHubFilters: each filter gets exactly the events it selects, in
// order, from one shared ring.
func TestHubFilters(t *testing.T) {
	h := newHubSize(nil, quietHubLogger(), 64)
	entries := []ringEntry{
		taskEntry("a", "q"),
		taskEntry("b", "q"),
		taskEntry("a2", "r"),
		entryOf(backend.EventQueueUpdate, "", "q", "queue-q"),
		entryOf(backend.EventQueueUpdate, "", "r", "queue-r"),
		entryOf(backend.EventWorkerUpdate, "", "", "worker"),
		entryOf(backend.EventResync, "", "", "backend-resync"),
		taskEntry("a", "q"),
	}
	cases := []struct {
		filter eventFilter
		want   []string
	}{
		{eventFilter{}, []string{"a", "b", "a2", "queue-q", "queue-r", "worker", "backend-resync", "a"}},
		{eventFilter{task: "a"}, []string{"a", "backend-resync", "a"}},
		{eventFilter{queue: "q"}, []string{"a", "b", "queue-q", "backend-resync", "a"}},
		{eventFilter{queue: "r"}, []string{"a2", "queue-r", "backend-resync"}},
		{eventFilter{task: "a", queue: "r"}, []string{"backend-resync"}},
		{eventFilter{task: "a2", queue: "r"}, []string{"a2", "backend-resync"}},
	}
	var ls []*listener
	for _, c := range cases {
		ls = append(ls, &listener{filter: c.filter})
	}
	publish(h, entries...)
	for i, c := range cases {
		if got := readAll(h, ls[i]); !slices.Equal(got, c.want) {
			t.Errorf("filter %+v read %v, want %v", c.filter, got, c.want)
		}
	}
}

// TestHubWakesWaitingListeners: a listener with nothing to read holds a
// channel that the next event closes, and only then has something to
// read.
func TestHubWakesWaitingListeners(t *testing.T) {
	h := newHubSize(nil, quietHubLogger(), 4)
	l := &listener{}
	pending, wake := h.waiting(l)
	if pending {
		t.Fatal("an empty ring has events pending")
	}
	select {
	case <-wake:
		t.Fatal("woken with nothing appended")
	default:
	}
	publish(h, taskEntry("x", "q"))
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		t.Fatal("an event did not wake the listener")
	}
	if pending, next := h.waiting(l); !pending || next == wake {
		t.Fatalf("after an event: pending %v, same wake channel %v", pending, next == wake)
	}
}

// TestDisconnectLeavesHub: a WebSocket client that goes away is removed
// from the hub, and the last one out ends the backend subscription.
func TestDisconnectLeavesHub(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv, err := New(Config{Client: taskmill.NewClient(b, taskmill.ClientConfig{}), Logger: quietHubLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer func() { srv.Close(); ts.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conns []*websocket.Conn
	for _, q := range []string{"", "?queue=q", "?task=t1"} {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/events"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Each stream is joined before its upgrade is answered.
	if n := srv.events.count.Load(); n != 3 {
		t.Fatalf("%d listeners after 3 connections", n)
	}
	// An event reaches a filtered client, proving its stream works.
	enqueueNamed(t, b, "t1")
	if _, msg, err := conns[2].Read(ctx); err != nil || !strings.Contains(string(msg), `"id":"t1"`) {
		t.Fatalf("?task=t1 read %s, %v", msg, err)
	}
	for i, c := range conns {
		c.CloseNow()
		for srv.events.count.Load() != int64(len(conns)-i-1) {
			if ctx.Err() != nil {
				t.Fatalf("after closing %d clients the hub still has %d", i+1, srv.events.count.Load())
			}
			time.Sleep(10 * time.Millisecond) // polls a condition; the deadline is only a hang guard
		}
	}
	srv.events.mu.RLock()
	defer srv.events.mu.RUnlock()
	if srv.events.cancel != nil {
		t.Fatal("the backend subscription outlived the last client")
	}
}
