package taskmill_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
)

// TestPurgeOnceHonoursEachStatesRetention finishes tasks in every final
// state and checks that a purge "a while later" deletes exactly the
// states whose retention has run out, in batches.
func TestPurgeOnceHonoursEachStatesRetention(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("ok", func(context.Context, *taskmill.Task) (any, error) { return "fine", nil })
	mux.HandleFunc("bad", func(context.Context, *taskmill.Task) (any, error) { return nil, taskmill.SkipRetry(errors.New("no")) })
	mux.HandleFunc("never", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 4})
	ctx := context.Background()
	var ok, bad []string
	for range 5 {
		a, _ := h.client.Enqueue(ctx, "ok", nil)
		b, _ := h.client.Enqueue(ctx, "bad", nil)
		ok, bad = append(ok, a.ID), append(bad, b.ID)
	}
	later, _ := h.client.Enqueue(ctx, "never", nil, taskmill.Delay(time.Hour))
	if _, err := h.client.Cancel(ctx, later.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range ok {
		h.waitState(t, id, taskmill.StateCompleted)
	}
	for _, id := range bad {
		h.waitState(t, id, taskmill.StateFailed)
	}

	r := taskmill.Retention{Completed: time.Hour, Failed: 10 * time.Hour, Canceled: 0, Batch: 2}
	// Two hours on: completed tasks are past their hour, failed ones not.
	deleted, err := taskmill.PurgeOnce(ctx, h.b, r, time.Now().Add(2*time.Hour))
	if err != nil || deleted[taskmill.StateCompleted] != 5 || deleted[taskmill.StateFailed] != 0 || deleted[taskmill.StateCanceled] != 0 {
		t.Fatalf("PurgeOnce at +2h = %v, %v; want the 5 completed only", deleted, err)
	}
	for _, id := range ok {
		if _, err := h.client.Get(ctx, id); !errors.Is(err, taskmill.ErrNotFound) {
			t.Fatalf("completed task %s not purged: %v", id, err)
		}
	}
	// A day on: the failed ones go too; canceled ones are kept (0 = forever).
	deleted, err = taskmill.PurgeOnce(ctx, h.b, r, time.Now().Add(24*time.Hour))
	if err != nil || deleted[taskmill.StateFailed] != 5 {
		t.Fatalf("PurgeOnce at +24h = %v, %v; want the 5 failed", deleted, err)
	}
	if info, err := h.client.Get(ctx, later.ID); err != nil || info.State != taskmill.StateCanceled {
		t.Fatalf("canceled task with retention 0: %v, %v", info, err)
	}
}

func TestRetentionLoopRuns(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	info, _ := client.Enqueue(context.Background(), "x", nil, taskmill.Delay(time.Hour))
	if _, err := client.Cancel(context.Background(), info.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		taskmill.RetentionLoop(ctx, b, taskmill.Retention{Canceled: time.Nanosecond, Interval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := client.Get(context.Background(), info.ID); errors.Is(err, taskmill.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the retention loop never purged the canceled task")
		}
	}
}
