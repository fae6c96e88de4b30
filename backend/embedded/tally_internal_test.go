package embedded

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// TestTalliesInOneGroup runs writes in one group transaction, behind a
// write that holds the committer: acks whose counters and history are
// kept until the group ends, and a delete of a queue's last task followed
// by DeleteQueue, which must see that queue's counter at 0.
func TestTalliesInOneGroup(t *testing.T) {
	ctx := context.Background()
	b, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now().UTC()
	_, err = b.Enqueue(ctx, []*backend.Task{
		{ID: "a", Type: "echo", Queue: "work", State: backend.StatePending, MaxAttempts: 1, CreatedAt: now},
		{ID: "b", Type: "echo", Queue: "work", State: backend.StatePending, MaxAttempts: 1, CreatedAt: now},
		{ID: "c", Type: "echo", Queue: "gone", State: backend.StatePending, MaxAttempts: 1, CreatedAt: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cancel(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"work"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %d tasks, %v", len(leased), err)
	}

	queued := make(chan struct{}, 1)
	b.queued = func() { queued <- struct{}{} }
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = b.update(ctx, func(*txn) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-queued
	<-started // the committer is inside the blocking write; what follows queues behind it
	errs := make(chan error, 4)
	for _, write := range []func() error{
		func() error { return b.Ack(ctx, leased[0].Ref(), json.RawMessage(`1`)) },
		func() error { return b.Ack(ctx, leased[1].Ref(), json.RawMessage(`2`)) },
		func() error { return b.Delete(ctx, "c") },
		func() error { return b.DeleteQueue(ctx, "gone") },
	} {
		go func() { errs <- write() }()
		<-queued // in this order
	}
	close(release)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	queues, err := b.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 1 || queues[0].Name != "work" || queues[0].Counts[backend.StateCompleted] != 2 ||
		queues[0].Counts[backend.StateProcessing] != 0 {
		t.Fatalf("queues after the group: %+v", queues)
	}
	hist, err := b.History(ctx, "work", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Completed != 2 {
		t.Fatalf("history after the group: %+v", hist)
	}
}
