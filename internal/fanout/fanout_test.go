package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

func ev(q string) backend.Event { return backend.Event{Kind: backend.EventQueueUpdate, Queue: q} }

func TestOverflowGivesOneResyncBeforeTheNextEvent(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	f := New(2, func() time.Time { return at })
	ch := f.Subscribe(context.Background())
	f.Publish(ev("1"), ev("2"), ev("lost-3"), ev("lost-4"))
	for _, want := range []string{"1", "2"} {
		if e := <-ch; e.Queue != want {
			t.Fatalf("got %+v, want queue %s", e, want)
		}
	}
	f.Publish(ev("5"))
	if e := <-ch; e.Kind != backend.EventResync || !e.At.Equal(at) {
		t.Fatalf("got %+v, want a resync stamped by the clock", e)
	}
	if e := <-ch; e.Queue != "5" {
		t.Fatalf("got %+v, want queue 5", e)
	}
	f.Publish(ev("6"))
	if e := <-ch; e.Queue != "6" {
		t.Fatalf("got %+v after the resync, want queue 6 and no second resync", e)
	}
}

func TestChannelsCloseWithContextAndClose(t *testing.T) {
	f := New(0, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	a := f.Subscribe(ctx)
	b := f.Subscribe(context.Background())
	cancel()
	for range a { // closes once ctx ended; a hang here fails by the test timeout
	}
	f.Close()
	if _, ok := <-b; ok {
		t.Fatal("a subscriber's channel stayed open after Close")
	}
	if _, ok := <-f.Subscribe(context.Background()); ok {
		t.Fatal("a subscription after Close is open")
	}
	f.Publish(ev("x")) // no subscriber, no panic
}
