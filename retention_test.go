package taskmill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
)

// finishAll leases every pending task of the default queue and acks it
// (type "ok") or fails it for good (any other type).
func finishAll(t *testing.T, b backend.Backend) {
	t.Helper()
	ctx := context.Background()
	tasks, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{taskmill.DefaultQueue}, Max: 100, LeaseFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Type == "ok" {
			err = b.Ack(ctx, task.Ref(), nil)
		} else {
			err = b.Fail(ctx, task.Ref(), backend.Failure{Error: "no", Final: true})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPurgeOnceHonoursEachStatesRetention finishes tasks in every final
// state, moves the backend's clock, and checks that a purge deletes
// exactly the states whose retention has run out, in batches: ages are
// the backend's, not this host's.
func TestPurgeOnceHonoursEachStatesRetention(t *testing.T) {
	clock := backendtest.NewClock(time.Time{})
	b := model.New(model.Options{Clock: clock})
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	ctx := context.Background()
	var ok []string
	for range 5 {
		a, _ := client.Enqueue(ctx, "ok", nil)
		client.Enqueue(ctx, "bad", nil)
		ok = append(ok, a.ID)
	}
	later, _ := client.Enqueue(ctx, "never", nil, taskmill.Delay(time.Hour))
	if _, err := client.Cancel(ctx, later.ID); err != nil {
		t.Fatal(err)
	}
	finishAll(t, b)

	r := taskmill.Retention{Completed: time.Hour, Failed: 10 * time.Hour, Canceled: 0, Batch: 2}
	// Two hours on: completed tasks are past their hour, failed ones not.
	clock.Advance(2 * time.Hour)
	deleted, err := taskmill.PurgeOnce(ctx, b, 0, r)
	if err != nil || deleted[taskmill.StateCompleted] != 5 || deleted[taskmill.StateFailed] != 0 || deleted[taskmill.StateCanceled] != 0 {
		t.Fatalf("PurgeOnce at +2h = %v, %v; want the 5 completed only", deleted, err)
	}
	for _, id := range ok {
		if _, err := client.Get(ctx, id); !errors.Is(err, taskmill.ErrNotFound) {
			t.Fatalf("completed task %s not purged: %v", id, err)
		}
	}
	// A day on: the failed ones go too; canceled ones are kept (0 = forever).
	clock.Advance(22 * time.Hour)
	deleted, err = taskmill.PurgeOnce(ctx, b, 0, r)
	if err != nil || deleted[taskmill.StateFailed] != 5 {
		t.Fatalf("PurgeOnce at +24h = %v, %v; want the 5 failed", deleted, err)
	}
	if info, err := client.Get(ctx, later.ID); err != nil || info.State != taskmill.StateCanceled {
		t.Fatalf("canceled task with retention 0: %v, %v", info, err)
	}
	// A term that is not the leader's deletes nothing.
	clock.Advance(24 * time.Hour)
	if _, err := taskmill.PurgeOnce(ctx, b, 12345, taskmill.Retention{Canceled: time.Second}); !errors.Is(err, backend.ErrNotLeader) {
		t.Fatalf("PurgeOnce with a stale term: %v, want ErrNotLeader", err)
	}
}
