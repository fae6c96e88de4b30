package embedded_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

// TestReopenKeepsEverything closes and reopens the store: tasks, queue
// state and counts survive, and a task left processing by the previous
// process is reclaimed once its lease runs out instead of staying stuck.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	tasks := []*backend.Task{
		{ID: "a", Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 3, CreatedAt: now, Payload: json.RawMessage(`{"x":1}`)},
		{ID: "b", Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 3, CreatedAt: now},
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "gone", Queues: []string{"default"}, Max: 1, LeaseFor: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := b.PauseQueue(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Opening twice at once is refused: one process owns the store.
	b2, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := embedded.Open(dir, embedded.Options{}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
	a, err := b2.Get(ctx, "a")
	if err != nil || a.State != backend.StateProcessing || string(a.Payload) != `{"x":1}` {
		t.Fatalf("task a after reopen: %v %+v", err, a)
	}
	time.Sleep(250 * time.Millisecond)
	if n, err := b2.Reclaim(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("Reclaim after reopen: %d %v", n, err)
	}
	got, err := b2.Lease(ctx, backend.LeaseRequest{WorkerID: "new", Queues: []string{"default"}, Max: 5, LeaseFor: time.Minute})
	if err != nil || len(got) != 2 {
		t.Fatalf("lease after reopen: %v, %d tasks", err, len(got))
	}
	qs, _ := b2.Queues(ctx)
	paused := false
	for _, q := range qs {
		if q.Name == "other" {
			paused = q.Paused
		}
	}
	if !paused {
		t.Fatalf("queue pause lost on reopen: %+v", qs)
	}
}
