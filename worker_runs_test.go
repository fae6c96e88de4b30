package taskmill_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
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
		time.Sleep(20 * time.Millisecond)
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
