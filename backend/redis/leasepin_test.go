package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestLeaseSetPinned checks what the lease set's pin promises: the set
// is a skiplist from the first lease on, whatever its size; no count,
// list or forgetting takes the pin for a task; and no task can take its
// id.
func TestLeaseSetPinned(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	prefix := fmt.Sprintf("pin%d", prefixSeq.Add(1))
	b, err := redis.Open(context.Background(), srv.URL()+"?prefix="+prefix, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := ctxFor(t)
	key := prefix + ":{pins}:lease"

	pinned := task("pins")
	pinned.ID = redis.LeasePin
	if _, err := b.Enqueue(ctx, []*backend.Task{pinned}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("enqueue with the pin as id: %v, want ErrInvalid", err)
	}

	tasks := []*backend.Task{task("pins"), task("pins")}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"pins"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v, %d tasks", err, len(leased))
	}
	if enc := rdb.ObjectEncoding(ctx, key).Val(); enc != "skiplist" {
		t.Fatalf("lease set encoding %q after one lease, want skiplist", enc)
	}
	if n := rdb.ZCard(ctx, key).Val(); n != 2 {
		t.Fatalf("lease set holds %d members, want the lease and the pin", n)
	}
	counts := func() map[backend.State]int {
		t.Helper()
		qs, err := b.Queues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == "pins" {
				return q.Counts
			}
		}
		t.Fatal("queue pins not listed")
		return nil
	}
	listed := func() int {
		t.Helper()
		p, err := b.List(ctx, backend.Filter{State: backend.StateProcessing, Queue: "pins"})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range p.Tasks {
			if x.ID == redis.LeasePin {
				t.Fatal("List returned the pin as a task")
			}
		}
		return len(p.Tasks)
	}
	if c := counts()[backend.StateProcessing]; c != 1 {
		t.Fatalf("processing count %d, want 1", c)
	}
	if n := listed(); n != 1 {
		t.Fatalf("List(processing) gave %d tasks, want 1", n)
	}

	// Ack the lease and delete every task: the set holds only the pin,
	// which counts for nothing, and the queue can be deleted.
	if err := b.Ack(ctx, leased[0].Ref(), nil); err != nil {
		t.Fatal(err)
	}
	if c := counts()[backend.StateProcessing]; c != 0 {
		t.Fatalf("processing count %d after the ack, want 0", c)
	}
	if n := listed(); n != 0 {
		t.Fatalf("List(processing) gave %d tasks after the ack, want 0", n)
	}
	if _, err := b.Cancel(ctx, tasks[1].ID); err != nil {
		t.Fatal(err)
	}
	for _, x := range tasks {
		if err := b.Delete(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.ZCard(ctx, key).Val(); n != 1 {
		t.Fatalf("lease set holds %d members with no lease, want the pin alone", n)
	}
	if err := b.DeleteQueue(ctx, "pins"); err != nil {
		t.Fatalf("delete a queue whose lease set holds only the pin: %v", err)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("the lease set outlived its deleted queue")
	}
}
