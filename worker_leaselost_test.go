package taskmill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
)

// TestWorkerLostLeaseIsNotAFailure: when a worker's lease is taken back
// (it expired on the backend's clock and was reclaimed), the worker stops
// extending it, cancels the handler with ErrLeaseLost and reports nothing:
// the handler's error is not recorded, the attempt is not spent, and the
// task runs again.
func TestWorkerLostLeaseIsNotAFailure(t *testing.T) {
	clock := backendtest.NewClock(time.Time{})
	m := model.New(model.Options{Clock: clock})
	t.Cleanup(func() { m.Close() })
	causes := make(chan error, 2)
	runs := make(chan int, 2)
	n := 0
	mux := taskmill.NewServeMux()
	mux.HandleFunc("long", func(ctx context.Context, task *taskmill.Task) (any, error) {
		n++
		runs <- n
		if n > 1 {
			return "second run", nil
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, errors.New("handler gave up: " + ctx.Err().Error())
	})
	w, err := taskmill.NewWorker(m, taskmill.WorkerConfig{Handler: mux, Concurrency: 1, LeaseDuration: 30 * time.Second,
		HeartbeatInterval: 20 * time.Millisecond, ReclaimInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(context.Background()) })
	client := taskmill.NewClient(m, taskmill.ClientConfig{})
	ctx := context.Background()
	info, err := client.Enqueue(ctx, "long", nil, taskmill.MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := awaitStart(t, runs); got != 1 {
		t.Fatalf("run %d", got)
	}
	// The worker is as if paused past its lease: the backend's clock
	// moves on and the lease is reclaimed.
	clock.Advance(31 * time.Second)
	if n, err := m.Reclaim(ctx, 0); err != nil || n != 1 {
		t.Fatalf("reclaim: %d, %v", n, err)
	}
	select {
	case cause := <-causes:
		if !errors.Is(cause, taskmill.ErrLeaseLost) {
			t.Fatalf("handler canceled with %v, want ErrLeaseLost", cause)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler of a lost lease was not canceled")
	}
	if got := awaitStart(t, runs); got != 2 {
		t.Fatalf("run %d", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := client.Get(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == taskmill.StateCompleted {
			if len(got.Attempts) != 2 || got.Attempts[0].Outcome != "lease_expired" || got.Attempt != 1 || string(got.Result) != `"second run"` {
				t.Fatalf("after the lost lease: attempt %d, attempts %+v, result %s; want the first recorded as lease_expired, not spent",
					got.Attempt, got.Attempts, got.Result)
			}
			for _, a := range got.Attempts {
				if a.Error != "" && a.Outcome != "lease_expired" {
					t.Fatalf("the lost run's handler error was recorded: %+v", a)
				}
			}
			return
		}
		if got.State == taskmill.StateFailed {
			t.Fatalf("the task failed: %s", got.LastError)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task is %s", got.State)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}
