package embedded

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/taskmill/taskmill/backend"
)

// TestPromoteDropsEmptyDueIndexes: a queue whose delayed tasks all left
// (canceled, deleted) keeps no index of delayed tasks past the next
// Promote, so upkeep's walk follows the queues that hold delayed tasks,
// not every queue that ever held one.
func TestPromoteDropsEmptyDueIndexes(t *testing.T) {
	b, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	tk := &backend.Task{ID: "later", Type: "echo", Queue: "q", State: backend.StateScheduled, MaxAttempts: 1,
		CreatedAt: now, RunAt: now.Add(time.Hour), Payload: json.RawMessage(`{}`)}
	if _, err := b.Enqueue(ctx, []*backend.Task{tk}); err != nil {
		t.Fatal(err)
	}
	indexed := func() bool {
		t.Helper()
		var ok bool
		if err := b.db.View(func(tx *bolt.Tx) error {
			ok = tx.Bucket(bucketDue).Bucket([]byte("q")) != nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !indexed() {
		t.Fatal("a queue holding a delayed task has no index of them")
	}
	if _, err := b.Cancel(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if indexed() {
		t.Fatal("the index of a queue with no delayed task left outlived Promote")
	}
}
