package embedded_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/embedded"
	bolt "go.etcd.io/bbolt"
)

// TestFailedWriteChangesNothing corrupts the second of two due tasks: the
// Lease that promotes them has written the first when it fails on the
// second, and must leave the store as it was (the transaction rolled
// back), not with one task promoted and the other not.
func TestFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := backendtest.NewClock(time.Time{})
	b, err := embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	var tasks []*backend.Task
	for i, id := range []string{"first", "second"} {
		tasks = append(tasks, &backend.Task{ID: id, Type: "echo", Queue: "default", State: backend.StateScheduled,
			MaxAttempts: 1, RunAt: now.Add(time.Duration(i+1) * time.Second)})
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	b.Close()
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("tasks")).Put([]byte("second"), []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b, err = embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	clock.Advance(time.Minute)
	got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 2, LeaseFor: time.Minute})
	if err == nil {
		t.Fatalf("Lease over a corrupt task succeeded with %d tasks", len(got))
	}
	first, err := b.Get(ctx, "first")
	if err != nil || first.State != backend.StateScheduled {
		t.Fatalf("after the failed Lease the first task is %v (%v), want still scheduled", first.State, err)
	}
	if n, err := b.Promote(ctx, 0); err == nil {
		t.Fatalf("Promote over a corrupt task promoted %d", n)
	}
	if first, _ := b.Get(ctx, "first"); first.State != backend.StateScheduled {
		t.Fatalf("after the failed Promote the first task is %v, want still scheduled", first.State)
	}
	// The store still works for what is not corrupt.
	if _, err := b.Enqueue(ctx, []*backend.Task{{ID: "third", Type: "echo", Queue: "other", State: backend.StatePending, MaxAttempts: 1}}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"other"}, Max: 1, LeaseFor: time.Minute}); err != nil || len(got) != 1 {
		t.Fatalf("lease from a sound queue: %v %d", err, len(got))
	}
}
