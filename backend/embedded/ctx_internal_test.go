package embedded

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// TestQueuedWriteWithdrawnWhenCtxEnds: a write waiting behind a long
// transaction returns when its ctx ends, and never runs afterwards.
func TestQueuedWriteWithdrawnWhenCtxEnds(t *testing.T) {
	b, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The second write queued (the Enqueue below) has its ctx ended as
	// soon as it waits in the queue behind the first.
	ctx, cancel := context.WithCancel(context.Background())
	var writes atomic.Int32
	b.queued = func() {
		if writes.Add(1) == 2 {
			cancel()
		}
	}
	started, release := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- b.update(context.Background(), func(*txn) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started // the committer is inside the long transaction

	done := make(chan error, 1)
	go func() {
		_, err := b.Enqueue(ctx, []*backend.Task{{ID: "late", Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 1}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Enqueue whose ctx ended: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second): // hang guard only
		t.Fatal("Enqueue did not return when its ctx ended")
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	// A later write goes through, and the withdrawn one never ran.
	if _, err := b.Enqueue(context.Background(), []*backend.Task{{ID: "next", Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(context.Background(), "late"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the withdrawn Enqueue stored its task: %v", err)
	}
}
