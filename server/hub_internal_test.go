package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

// TestSlowListenerGetsResync: a listener that reads nothing loses events
// once its buffer is full, the backend and other listeners go on at full
// speed, and the slow one is told to resync when it reads again.
func TestSlowListenerGetsResync(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := newHub(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.close()
	slow, err := h.join(eventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.join(eventFilter{queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	const n = clientBuffer * 3
	got := make(chan int)
	go func() {
		count := 0
		for count < n {
			e := decodeEvent(t, <-fast.ch)
			if e.Kind == backend.EventTaskUpdate {
				count++
			}
		}
		got <- count
	}()
	ctx := context.Background()
	for i := range n {
		task := &backend.Task{ID: "t" + itoa(i), Type: "x", Queue: "q", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now().UTC(), Payload: json.RawMessage(`{}`)}
		if _, err := b.Enqueue(ctx, []*backend.Task{task}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case c := <-got:
		if c != n {
			t.Fatalf("the reading listener got %d of %d events", c, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a listener that reads nothing held up the others")
	}
	// The slow listener holds a full buffer; after draining it, the next
	// event is preceded by a resync.
	if len(slow.ch) != clientBuffer {
		t.Fatalf("slow buffer holds %d, want %d", len(slow.ch), clientBuffer)
	}
	for range clientBuffer {
		<-slow.ch
	}
	if _, err := b.Enqueue(ctx, []*backend.Task{{ID: "last", Type: "x", Queue: "q", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	first := decodeEvent(t, <-slow.ch)
	second := decodeEvent(t, <-slow.ch)
	if first.Kind != backend.EventResync || second.Kind != backend.EventTaskUpdate || second.Task.ID != "last" {
		t.Fatalf("after falling behind: %+v then %+v", first, second)
	}
	// Leaving ends the subscription; joining again starts a fresh one.
	h.leave(slow)
	h.leave(fast)
	if h.cancel != nil {
		t.Fatal("the subscription outlived its last listener")
	}
	again, err := h.join(eventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Enqueue(ctx, []*backend.Task{{ID: "again", Type: "x", Queue: "q", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-again.ch:
		if e := decodeEvent(t, msg); e.Task == nil || e.Task.ID != "again" {
			t.Fatalf("after rejoining got %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after rejoining")
	}
	// Closing the hub drops its listeners so their clients reconnect.
	h.close()
	select {
	case <-again.gone:
	case <-time.After(30 * time.Second):
		t.Fatal("close did not drop the listener")
	}
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
	h := newHub(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	task := &backend.Task{ID: "one", Type: "x", Queue: "q", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now().UTC()}
	if _, err := b.Enqueue(context.Background(), []*backend.Task{task}); err != nil {
		t.Fatal(err)
	}
	recv := func(l *listener) []byte {
		for {
			select {
			case msg := <-l.ch:
				if e := decodeEvent(t, msg); e.Kind == backend.EventTaskUpdate {
					return msg
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no task event")
			}
		}
	}
	a, q := recv(all), recv(byQueue)
	if e := decodeEvent(t, a); e.Task == nil || e.Task.ID != "one" {
		t.Fatalf("got %s", a)
	}
	if &a[0] != &q[0] {
		t.Error("two listeners got separately encoded copies of one event")
	}
	// The pump holds the lock while it fans an event out: once it is
	// ours, every listener has what it will get of the event.
	h.mu.Lock()
	pending := len(other.ch)
	h.mu.Unlock()
	for range pending {
		if e := decodeEvent(t, <-other.ch); e.Kind == backend.EventTaskUpdate {
			t.Errorf("a listener of queue other got %+v", e)
		}
	}
}
