package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/embedded"
	bolt "go.etcd.io/bbolt"
)

// TestReopenKeepsEverything closes and reopens the store: tasks, queue
// state and counts survive, and a task left processing by the previous
// process is back in pending as soon as the store reopens.
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
	if _, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "gone", Queues: []string{"default"}, Max: 1, LeaseFor: time.Hour}); err != nil {
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
	// The lease of the process that is gone is handed back at Open, with
	// the attempt it started counted and recorded.
	a, err := b2.Get(ctx, "a")
	if err != nil || a.State != backend.StatePending || string(a.Payload) != `{"x":1}` || a.Attempt != 0 || a.LeaseLosses != 1 ||
		len(a.Attempts) != 1 || a.Attempts[0].Outcome != "lease_expired" {
		t.Fatalf("task a after reopen: %v %+v", err, a)
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

// TestFinishedIndexBackfilled opens a store written before the finished
// index existed: the index is built at Open, so Purge finds old tasks.
func TestFinishedIndexBackfilled(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := b.Enqueue(ctx, []*backend.Task{{ID: "old", Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 1, CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(got) != 1 {
		t.Fatalf("lease: %v %d", err, len(got))
	}
	if err := b.Ack(ctx, got[0].Ref(), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Make it look like a store from before the index: drop the bucket.
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("finished")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b, err = embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n, err := b.Purge(ctx, 0, backend.StateCompleted, -time.Minute, 10); err != nil || n != 1 {
		t.Fatalf("Purge after the backfill = %d, %v; want 1", n, err)
	}
}

// TestTermsSurviveReopen: leadership terms are stored, so a term handed
// out before a restart is never handed out again (fencing would break).
func TestTermsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := backendtest.NewClock(time.Time{})
	b, err := embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.Lead(ctx, "p1", time.Second)
	if err != nil || !first.Held {
		t.Fatalf("Lead: %v %+v", err, first)
	}
	b.Close()
	b, err = embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if still, err := b.Lead(ctx, "p2", time.Second); err != nil || still.Held || still.Term != first.Term {
		t.Fatalf("Lead by another before expiry, after reopen: %v %+v", err, still)
	}
	clock.Advance(time.Second)
	next, err := b.Lead(ctx, "p2", time.Second)
	if err != nil || !next.Held || next.Term <= first.Term {
		t.Fatalf("Lead after expiry and reopen: %v %+v, want a term above %d", err, next, first.Term)
	}
	if _, err := b.Promote(ctx, first.Term); !errors.Is(err, backend.ErrNotLeader) {
		t.Fatalf("Promote with the term from before the restart: %v, want ErrNotLeader", err)
	}
}
