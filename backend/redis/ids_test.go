package redis_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestIDsUniqueAcrossClusterNodes: on a real three-master cluster, two
// processes enqueue the same ids at once into queues whose slots are on
// different masters; every id is stored exactly once, and Get finds it
// from either process. An id whose task was not stored (its unique key
// was held) is free again, and so is the id of a deleted task.
func TestIDsUniqueAcrossClusterNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	cl := testredis.StartCluster(t, 3)
	url := fmt.Sprintf("%s?prefix=ids%d", cl.URL(), prefixSeq.Add(1))
	one, two := openURL(t, url), openURL(t, url)
	ctx := ctxFor(t)
	// Two queues on different masters (16384 slots, 3 masters).
	qa, qb := "a", ""
	for _, q := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		if redis.Slot(q)/5462 != redis.Slot(qa)/5462 {
			qb = q
			break
		}
	}
	if qb == "" {
		t.Fatal("no queue found on another master than queue a")
	}
	const n = 200
	var wg sync.WaitGroup
	stored := make([][]bool, 2)
	for p, b := range []*redis.Backend{one, two} {
		stored[p] = make([]bool, n)
		q := []string{qa, qb}[p]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				tk := task(q)
				tk.ID = fmt.Sprintf("shared-%03d", i)
				_, err := b.Enqueue(ctx, []*backend.Task{tk})
				switch {
				case err == nil:
					stored[p][i] = true
				case !errors.Is(err, backend.ErrDuplicate):
					t.Errorf("enqueue %s into %s: %v", tk.ID, q, err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("shared-%03d", i)
		if stored[0][i] == stored[1][i] {
			t.Fatalf("id %s stored by both or neither process: %v %v", id, stored[0][i], stored[1][i])
		}
		want := qa
		if stored[1][i] {
			want = qb
		}
		for _, b := range []*redis.Backend{one, two} {
			if got, err := b.Get(ctx, id); err != nil || got.Queue != want {
				t.Fatalf("Get %s: %v %+v, want it in queue %s", id, err, got, want)
			}
		}
	}

	// A task not stored for its unique key leaves its id free.
	holder := task(qa)
	holder.UniqueKey, holder.UniqueUntil = "k", holder.CreatedAt.Add(time.Hour)
	if _, err := one.Enqueue(ctx, []*backend.Task{holder}); err != nil {
		t.Fatal(err)
	}
	dup := task(qa)
	dup.UniqueKey, dup.UniqueUntil = "k", dup.CreatedAt.Add(time.Hour)
	res, err := one.Enqueue(ctx, []*backend.Task{dup})
	if err != nil || !res[0].Duplicate {
		t.Fatalf("enqueue under a held unique key: %v %+v", err, res)
	}
	again := task(qb)
	again.ID = dup.ID
	if _, err := two.Enqueue(ctx, []*backend.Task{again}); err != nil {
		t.Fatalf("the id of a task not stored, in another queue: %v", err)
	}
	// A deleted task's id is free again.
	leased, err := two.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{qb}, Max: 1000, LeaseFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leased {
		if l.ID != again.ID {
			continue
		}
		if err := two.Ack(ctx, l.Ref(), nil); err != nil {
			t.Fatal(err)
		}
		if err := two.Delete(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		reuse := task(qa)
		reuse.ID = l.ID
		if _, err := one.Enqueue(ctx, []*backend.Task{reuse}); err != nil {
			t.Fatalf("the id of a deleted task: %v", err)
		}
		return
	}
	t.Fatalf("task %s not leased", again.ID)
}

func openURL(t *testing.T, url string) *redis.Backend {
	t.Helper()
	b, err := redis.Open(ctxFor(t), url, testOptions())
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
