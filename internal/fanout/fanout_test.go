package fanout

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

func ev(q string) backend.Event { return backend.Event{Kind: backend.EventQueueUpdate, Queue: q} }

func subscribe(t *testing.T, f *Fanout, ctx context.Context) <-chan backend.Event {
	t.Helper()
	ch, err := f.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return ch
}

// expect checks the next event waiting in ch. Publish and Flush deliver
// before they return, so expect and expectNothing need not wait.
func expect(t *testing.T, ch <-chan backend.Event, kind, queue string) {
	t.Helper()
	select {
	case e := <-ch:
		if e.Kind != kind || e.Queue != queue {
			t.Fatalf("got %+v, want %s %q", e, kind, queue)
		}
	default:
		t.Fatalf("got nothing, want %s %q", kind, queue)
	}
}

// expectNothing checks that nothing waits in ch.
func expectNothing(t *testing.T, ch <-chan backend.Event) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("got %+v, want nothing", e)
	default:
	}
}

func TestOverflowGivesOneResyncBeforeTheNextEvent(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	f := New(2, func() time.Time { return at })
	ch := subscribe(t, f, context.Background())
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

func TestLostOwesOneResyncBeforeTheNextEvent(t *testing.T) {
	f := New(4, time.Now)
	ch := subscribe(t, f, context.Background())
	f.Lost()
	f.Lost() // a second break before the first is settled owes nothing more
	expectNothing(t, ch)
	f.Publish(ev("1"))
	expect(t, ch, backend.EventResync, "")
	expect(t, ch, backend.EventQueueUpdate, "1")
	f.Publish(ev("2"))
	expect(t, ch, backend.EventQueueUpdate, "2")
	expectNothing(t, ch)
}

func TestLostDoesNotReachLaterSubscribers(t *testing.T) {
	f := New(4, time.Now)
	f.Lost()
	ch := subscribe(t, f, context.Background())
	f.Flush()
	f.Publish(ev("1"))
	expect(t, ch, backend.EventQueueUpdate, "1")
}

func TestFlushSendsOwedResyncsThatFit(t *testing.T) {
	f := New(2, time.Now)
	roomy := subscribe(t, f, context.Background())
	full := subscribe(t, f, context.Background())
	f.Publish(ev("1"), ev("2"))
	expect(t, roomy, backend.EventQueueUpdate, "1")
	expect(t, roomy, backend.EventQueueUpdate, "2")
	f.Lost()
	f.Flush()
	expect(t, roomy, backend.EventResync, "") // at Flush, with no event to carry it
	f.Flush()                                 // settled: nothing more
	expectNothing(t, roomy)

	// full had no room at Flush: its resync stays owed, and comes at the
	// next Flush or before its next event, whichever is first.
	expect(t, full, backend.EventQueueUpdate, "1")
	expect(t, full, backend.EventQueueUpdate, "2")
	expectNothing(t, full)
	f.Publish(ev("3"))
	expect(t, full, backend.EventResync, "")
	expect(t, full, backend.EventQueueUpdate, "3")
	expect(t, roomy, backend.EventQueueUpdate, "3")
}

func TestPublishedResyncStandsInForTheOwedOne(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	f := New(4, func() time.Time { return at })
	owed := subscribe(t, f, context.Background())
	f.Lost()
	fresh := subscribe(t, f, context.Background())
	f.Publish(backend.Event{Kind: backend.EventResync, At: at.Add(time.Hour)}, ev("1"))
	if e := <-owed; e.Kind != backend.EventResync || !e.At.Equal(at) {
		t.Fatalf("got %+v, want the owed resync, stamped by the clock", e)
	}
	expect(t, owed, backend.EventQueueUpdate, "1") // and not a second resync
	if e := <-fresh; e.Kind != backend.EventResync || !e.At.Equal(at.Add(time.Hour)) {
		t.Fatalf("got %+v, want the published resync as it was", e)
	}
	expect(t, fresh, backend.EventQueueUpdate, "1")
}

func TestChannelsCloseWithContextAndClose(t *testing.T) {
	f := New(0, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	a := subscribe(t, f, ctx)
	b := subscribe(t, f, context.Background())
	cancel()
	for range a { // closes once ctx ended; a hang here fails by the test timeout
	}
	f.Close()
	select { // Close closes the channels before it returns
	case _, ok := <-b:
		if ok {
			t.Fatal("got an event after Close")
		}
	default:
		t.Fatal("a subscriber's channel stayed open after Close")
	}
	if _, ok := <-subscribe(t, f, context.Background()); ok {
		t.Fatal("a subscription after Close is open")
	}
	f.Publish(ev("x")) // no subscriber, no panic
	f.Lost()
	f.Flush()
	f.Close() // twice, no panic
	if n := f.Len(); n != 0 {
		t.Fatalf("Len after Close = %d, want 0", n)
	}
}

// hookLog records the hooks' calls in order.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *hookLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.calls, ",")
}

func TestFirstAndLastRunOncePerRound(t *testing.T) {
	var log hookLog
	left := make(chan struct{}, 1)
	f := NewWithHooks(0, time.Now, Hooks{
		First: func(context.Context) error { log.add("first"); return nil },
		Last:  func() { log.add("last"); left <- struct{}{} },
	})
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	a := subscribe(t, f, ctxA)
	b := subscribe(t, f, ctxB)
	if n := f.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	cancelA()
	for range a {
	}
	if got := log.String(); got != "first" {
		t.Fatalf("hooks after one of two left: %s, want first", got)
	}
	cancelB()
	<-left
	for range b {
	}
	if got := log.String(); got != "first,last" {
		t.Fatalf("hooks after both left: %s, want first,last", got)
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}

	// A new round runs First again; Close ends it without Last.
	c := subscribe(t, f, context.Background())
	f.Close()
	for range c {
	}
	subscribe(t, f, context.Background()) // closed: no First either
	if got := log.String(); got != "first,last,first" {
		t.Fatalf("hooks after Close: %s, want first,last,first", got)
	}
}

func TestFirstErrorRefusesTheSubscription(t *testing.T) {
	refuse := errors.New("no confirmation")
	var calls atomic.Int32
	f := NewWithHooks(0, time.Now, Hooks{First: func(context.Context) error {
		if calls.Add(1) == 1 {
			return refuse
		}
		return nil
	}})
	if ch, err := f.Subscribe(context.Background()); !errors.Is(err, refuse) || ch != nil {
		t.Fatalf("Subscribe = %v, %v; want nil, the First error", ch, err)
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("a refused subscriber was added: Len = %d", n)
	}
	ch := subscribe(t, f, context.Background())
	if n := calls.Load(); n != 2 {
		t.Fatalf("First ran %d times, want 2: the refused Subscribe added no one", n)
	}
	f.Publish(ev("1"))
	expect(t, ch, backend.EventQueueUpdate, "1")
}

// joinModel is a backend's source as the hooks join and leave it, which
// records what would go wrong: joining twice, or leaving what it is not
// joined to. The hooks yield halfway, to widen the window in which a
// subscriber coming or going elsewhere could get in.
type joinModel struct {
	joined atomic.Bool
	bad    atomic.Pointer[string]
}

func (m *joinModel) fail(msg string) { m.bad.CompareAndSwap(nil, &msg) }

func (m *joinModel) hooks() Hooks {
	return Hooks{
		First: func(context.Context) error {
			runtime.Gosched()
			if m.joined.Swap(true) {
				m.fail("First ran while still joined: a Subscribe came between the last leaving and Last")
			}
			return nil
		},
		Last: func() {
			runtime.Gosched()
			if !m.joined.Swap(false) {
				m.fail("Last ran while not joined")
			}
		},
	}
}

// check records whether a live subscriber finds the source joined.
func (m *joinModel) check() {
	if !m.joined.Load() {
		m.fail("a subscriber's source was left while it was subscribed")
	}
}

func (m *joinModel) verdict(t *testing.T) {
	t.Helper()
	if msg := m.bad.Load(); msg != nil {
		t.Fatal(*msg)
	}
}

// TestLastIsOrderedWithASubscribeThatRacesIt has the last subscriber
// leave while another Subscribe starts, many times. Last must run before
// that Subscribe is served, which then runs First again; were the
// Subscribe to slip in between the last removal and Last, it would join
// twice, or find a subscriber still there, not join, and then lose its
// source to Last. Each round the subscriber count really falls to zero.
func TestLastIsOrderedWithASubscribeThatRacesIt(t *testing.T) {
	var m joinModel
	f := NewWithHooks(0, time.Now, m.hooks())
	for range 2000 {
		ctx, cancel := context.WithCancel(context.Background())
		leaving := subscribe(t, f, ctx)
		go cancel()
		ctx2, cancel2 := context.WithCancel(context.Background())
		coming := subscribe(t, f, ctx2)
		m.check()
		for range leaving {
		}
		m.check()
		cancel2()
		for range coming {
		}
	}
	m.verdict(t)
}

// TestHooksKeepOrderWithSubscribers has subscribers come and go from
// several goroutines at once; the source must be joined while any is
// subscribed, and joined and left in turn.
func TestHooksKeepOrderWithSubscribers(t *testing.T) {
	var m joinModel
	f := NewWithHooks(0, time.Now, m.hooks())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				ctx, cancel := context.WithCancel(context.Background())
				ch, err := f.Subscribe(ctx)
				if err != nil {
					m.fail(err.Error())
				}
				m.check()
				runtime.Gosched()
				m.check()
				cancel()
				for range ch {
				}
			}
		})
	}
	wg.Wait()
	m.verdict(t)
}
