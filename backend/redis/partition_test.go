package redis_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestWorkerCutOffFromRedis: a worker whose connection to Redis is cut
// while it runs a task cancels the handler when its lease runs out,
// another process reclaims and completes the task, and when the network
// heals the first worker's late result is not written: the completed
// result is the second run's, and the stale lease is refused.
func TestWorkerCutOffFromRedis(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	proxy := testredis.NewProxy(t, srv.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	cutOff, err := redis.Open(ctx, proxy.URL()+"?prefix=part", redis.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cutOff.Close()
	other, err := redis.Open(ctx, srv.URL()+"?prefix=part", redis.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	started := make(chan *taskmill.Task, 1)
	canceled := make(chan error, 1)
	first := taskmill.NewServeMux()
	first.HandleFunc("block", func(ctx context.Context, t *taskmill.Task) (any, error) {
		started <- t
		<-ctx.Done()
		canceled <- context.Cause(ctx)
		return "late result from the cut-off worker", nil
	})
	w1, err := taskmill.NewWorker(cutOff, taskmill.WorkerConfig{ID: "cut-off", Handler: first, Concurrency: 1,
		LeaseDuration: time.Second, ReclaimInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := w1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w1.Stop(context.Background())

	info, err := taskmill.NewClient(other, taskmill.ClientConfig{}).Enqueue(ctx, "block", nil, taskmill.MaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	var leased *taskmill.Task
	select {
	case leased = <-started:
	case <-ctx.Done():
		t.Fatal("the first worker never started the task")
	}
	proxy.Cut()
	cutAt := time.Now()

	// The handler is canceled once the lease the worker could not extend
	// has run out (1s), not before it and not much after.
	select {
	case cause := <-canceled:
		if !errors.Is(cause, backend.ErrLeaseLost) {
			t.Fatalf("handler canceled with %v, want ErrLeaseLost", cause)
		}
		if d := time.Since(cutAt); d > 5*time.Second {
			t.Fatalf("handler canceled %v after the cut, lease 1s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off worker kept running the task past its lease")
	}

	// Any live process reclaims the task; another worker completes it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := other.Reclaim(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired lease was never reclaimed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := taskmill.NewServeMux()
	second.HandleFunc("block", func(ctx context.Context, t *taskmill.Task) (any, error) { return "second run", nil })
	w2, err := taskmill.NewWorker(other, taskmill.WorkerConfig{ID: "healthy", Handler: second, Concurrency: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w2.Stop(context.Background())
	var done *backend.Task
	for done == nil || done.State != backend.StateCompleted {
		if ctx.Err() != nil {
			t.Fatalf("the task never completed on the healthy worker: %+v", done)
		}
		time.Sleep(50 * time.Millisecond)
		done, _ = other.Get(ctx, info.ID)
	}

	// The network heals. Whatever the first worker still tries, its lease
	// is stale: the stored result stays the second run's.
	proxy.Heal()
	if err := cutOff.Ack(ctx, leased.Info().Ref(), []byte(`"overwrite"`)); !errors.Is(err, backend.ErrLeaseLost) {
		t.Fatalf("ack with the stale lease after healing: %v, want ErrLeaseLost", err)
	}
	time.Sleep(2 * time.Second) // time for any late write of the first worker to land
	final, err := other.Get(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != backend.StateCompleted || string(final.Result) != `"second run"` {
		t.Fatalf("final task: state %s result %s", final.State, final.Result)
	}
	if len(final.Attempts) != 2 || final.Attempts[0].WorkerID != "cut-off" || final.Attempts[0].Outcome != "lease_expired" ||
		final.Attempts[1].WorkerID != "healthy" || final.Attempts[1].Outcome != "completed" {
		t.Fatalf("attempts: %+v", final.Attempts)
	}
}
