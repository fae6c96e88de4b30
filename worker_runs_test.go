package taskmill_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
)

// TestWorkerTwoRunsOfOneTask reproduces issue #10's "one task, two runs in
// one worker": a task canceled while its handler ignores its context, then
// retried, is leased again by the same worker while the first run still
// runs. When the first run returns it must not take the second run's
// bookkeeping with it: the second run's lease keeps being extended, no
// third run starts, and the second run's result is recorded.
func TestWorkerTwoRunsOfOneTask(t *testing.T) {
	type start struct {
		n       int
		release chan struct{}
	}
	starts := make(chan start, 4)
	var runs atomic.Int32
	mux := taskmill.NewServeMux()
	mux.HandleFunc("stubborn", func(ctx context.Context, task *taskmill.Task) (any, error) {
		// Ignores ctx on purpose: it returns when the test says so.
		release := make(chan struct{})
		starts <- start{n: int(runs.Add(1)), release: release}
		<-release
		return "run done", nil
	})
	const lease = 2 * time.Second
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 3, LeaseDuration: lease,
		HeartbeatInterval: 100 * time.Millisecond, ShutdownTimeout: time.Second})
	ctx := context.Background()
	info, err := h.client.Enqueue(ctx, "stubborn", nil, taskmill.MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	first := awaitStart(t, starts)
	if _, err := h.client.Cancel(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, info.ID, taskmill.StateCanceled)
	if _, err := h.client.Retry(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	second := awaitStart(t, starts)
	if second.n != 2 {
		t.Fatalf("second start is run %d", second.n)
	}
	held, err := h.client.Get(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	token := held.LeaseToken

	// The first run returns while the second runs.
	close(first.release)
	returned := time.Now()

	// The second run's lease must still be extended well after the first
	// run returned: an extension sent after returned+lease shows that the
	// worker kept extending past the point where an abandoned lease would
	// have expired. A third start, or another token, is the bug.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case s := <-starts:
			t.Fatalf("run %d started while run 2 still runs", s.n)
		default:
		}
		got, err := h.client.Get(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != taskmill.StateProcessing || got.LeaseToken != token {
			t.Fatalf("after the first run returned the task is %s with token %d (want processing, token %d): the second run's lease was abandoned",
				got.State, got.LeaseToken, token)
		}
		if !got.LeaseExpiresAt.Before(returned.Add(2 * lease)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of the second run not extended: expires %s", got.LeaseExpiresAt)
		}
		time.Sleep(20 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
	close(second.release)
	done := h.waitState(t, info.ID, taskmill.StateCompleted)
	if string(done.Result) != `"run done"` {
		t.Fatalf("result %s", done.Result)
	}
	select {
	case s := <-starts:
		t.Fatalf("run %d started", s.n)
	default:
	}
}

func awaitStart[T any](t *testing.T, starts <-chan T) T {
	t.Helper()
	select {
	case s := <-starts:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("handler did not start within 30s")
	}
	var zero T
	return zero
}

// cancelFeed is a backend whose cancellation stream the test writes.
type cancelFeed struct {
	backend.Backend
	ids chan string
}

// WatchCancels passes on what the test sends, one at a time, until ctx
// ends.
func (c *cancelFeed) WatchCancels(ctx context.Context) (<-chan string, error) {
	out := make(chan string)
	go func() {
		defer close(out)
		for {
			select {
			case id := <-c.ids:
				select {
				case out <- id:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// TestWorkerLateCancelNoticeSparesNewerRun: a cancel notice is a hint. One
// that arrives after the task was retried and leased again by the same
// worker must not cancel the newer run: the worker checks its leases with
// the backend, and the newer run completes.
func TestWorkerLateCancelNoticeSparesNewerRun(t *testing.T) {
	clock := backendtest.NewClock(time.Time{})
	m := model.New(model.Options{Clock: clock})
	t.Cleanup(func() { m.Close() })
	feed := &cancelFeed{Backend: m, ids: make(chan string)}
	type start struct {
		ctx     context.Context
		release chan struct{}
	}
	starts := make(chan start, 4)
	mux := taskmill.NewServeMux()
	mux.HandleFunc("stubborn", func(ctx context.Context, task *taskmill.Task) (any, error) {
		release := make(chan struct{})
		starts <- start{ctx: ctx, release: release}
		<-release
		return "done", nil
	})
	w, err := taskmill.NewWorker(feed, taskmill.WorkerConfig{Handler: mux, Concurrency: 3, LeaseDuration: 30 * time.Second,
		ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(context.Background()) })
	client := taskmill.NewClient(m, taskmill.ClientConfig{})
	ctx := context.Background()
	info, err := client.Enqueue(ctx, "stubborn", nil)
	if err != nil {
		t.Fatal(err)
	}
	first := awaitStart(t, starts)
	if _, err := client.Cancel(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	feed.ids <- info.ID // the notice in time: the first run is canceled
	select {
	case <-first.ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the first run was not canceled by the notice")
	}
	if _, err := client.Retry(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	second := awaitStart(t, starts)
	// A late copy of the same notice. The worker checks the run's lease
	// with Extend, which the test sees as a new expiry on the moved
	// clock; a worker that cancels by task id cancels the run instead.
	clock.Advance(time.Second)
	want := clock.Now().Add(30 * time.Second)
	feed.ids <- info.ID
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := second.ctx.Err(); err != nil {
			t.Fatalf("the newer run was canceled by a stale notice: %v", context.Cause(second.ctx))
		}
		got, err := client.Get(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LeaseExpiresAt.Equal(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late notice was not checked with the backend: lease expires %s, want %s", got.LeaseExpiresAt, want)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
	close(first.release)
	close(second.release)
	for {
		got, err := client.Get(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == taskmill.StateCompleted {
			if string(got.Result) != `"done"` {
				t.Fatalf("result %s", got.Result)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task is %s, want completed by the newer run", got.State)
		}
		time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}
