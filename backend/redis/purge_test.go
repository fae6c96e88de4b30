package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// finishTasks enqueues one task per queue named, in that order, and
// finishes them one at a time in the same order (completed, or failed
// for good), so that their finish times follow the order. It returns the
// ids in finish order.
func finishTasks(t *testing.T, b *redis.Backend, how backend.State, queues ...string) []string {
	t.Helper()
	ctx := ctxFor(t)
	ids := make([]string, len(queues))
	for i, q := range queues {
		tk := task(q)
		if _, err := b.Enqueue(ctx, []*backend.Task{tk}); err != nil {
			t.Fatal(err)
		}
		ids[i] = tk.ID
	}
	for i, q := range queues {
		got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{q}, Max: 1, LeaseFor: time.Minute})
		if err != nil || len(got) != 1 || got[0].ID != ids[i] {
			t.Fatalf("lease %s from %s: %v %v", ids[i], q, got, err)
		}
		if how == backend.StateCompleted {
			err = b.Ack(ctx, got[0].Ref(), nil)
		} else {
			err = b.Fail(ctx, got[0].Ref(), backend.Failure{Error: "boom", Final: true})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// finishMany enqueues n tasks in queue q and finishes them in batches.
func finishMany(t *testing.T, b *redis.Backend, how backend.State, q string, n int) []string {
	t.Helper()
	ctx := ctxFor(t)
	var ids []string
	for len(ids) < n {
		batch := make([]*backend.Task, min(500, n-len(ids)))
		for i := range batch {
			batch[i] = task(q)
			ids = append(ids, batch[i].ID)
		}
		if _, err := b.Enqueue(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	for done := 0; done < n; {
		got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{q}, Max: 500, LeaseFor: time.Minute})
		if err != nil || len(got) == 0 {
			t.Fatalf("lease: %d tasks, %v", len(got), err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(got))
		for _, l := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if how == backend.StateCompleted {
					errs <- b.Ack(ctx, l.Ref(), nil)
				} else {
					errs <- b.Fail(ctx, l.Ref(), backend.Failure{Error: "boom", Final: true})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		done += len(got)
	}
	return ids
}

func finLogLen(t *testing.T, b *redis.Backend, q, set string) int64 {
	t.Helper()
	n, err := b.Client().LLen(context.Background(), b.Prefix()+":{"+q+"}:fin:"+set).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantGone(t *testing.T, b *redis.Backend, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := b.Get(ctxFor(t), id); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("task %s: Get = %v, want ErrNotFound", id, err)
		}
	}
}

func wantThere(t *testing.T, b *redis.Backend, s backend.State, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if tk, err := b.Get(ctxFor(t), id); err != nil || tk.State != s {
			t.Fatalf("task %s: Get = %v, %v; want it %s", id, tk, err, s)
		}
	}
}

func purge(t *testing.T, b *redis.Backend, s backend.State, before time.Time, max, want int) {
	t.Helper()
	if n, err := b.Purge(ctxFor(t), 0, s, time.Since(before), max); err != nil || n != want {
		t.Fatalf("Purge(%s, %d) = %d, %v; want %d", s, max, n, err, want)
	}
}

// TestPurgeStaleLogEntries: the finish log keeps the entries of tasks
// retried or deleted after they finished; Purge drops them without
// touching the tasks, and a task that failed again is purged by its
// newer entry.
func TestPurgeStaleLogEntries(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	b := openTest(t, srv)
	ctx := ctxFor(t)
	ids := finishTasks(t, b, backend.StateFailed, "q", "q", "q", "q")
	retried, deleted, refailed, kept := ids[0], ids[1], ids[2], ids[3]
	for _, id := range []string{retried, refailed} {
		if _, err := b.Retry(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"q"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(got) != 2 {
		t.Fatalf("lease the retried tasks: %v %v", got, err)
	}
	for _, l := range got {
		if l.ID == refailed {
			err = b.Fail(ctx, l.Ref(), backend.Failure{Error: "again", Final: true})
		} else {
			err = b.Release(ctx, l.Ref())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := finLogLen(t, b, "q", "failed"); n != 2*5 {
		t.Fatalf("failed log holds %d values, want 5 (finished µs, id) pairs", n)
	}
	// The first three entries are stale; the fourth is kept's, the
	// fifth refailed's second failure.
	purge(t, b, backend.StateFailed, time.Now().Add(time.Hour), 100, 2)
	wantGone(t, b, kept, refailed)
	wantThere(t, b, backend.StatePending, retried)
	if n := finLogLen(t, b, "q", "failed"); n != 0 {
		t.Fatalf("failed log holds %d values after the purge, want none", n)
	}
	purge(t, b, backend.StateFailed, time.Now().Add(time.Hour), 100, 0)
}

// TestPurgeOldestFirstAcrossQueues: with more due than max, Purge takes
// the oldest over all queues, not queue by queue.
func TestPurgeOldestFirstAcrossQueues(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	testPurgeOldestFirst(t, openTest(t, srv))
}

func testPurgeOldestFirst(t *testing.T, b *redis.Backend) {
	queues := []string{"a", "b", "c", "a", "a", "c", "b", "b", "a", "c", "c", "a"}
	ids := finishTasks(t, b, backend.StateCompleted, queues...)
	later := time.Now().Add(time.Hour)
	for _, step := range []int{1, 2, 4, 5} {
		purge(t, b, backend.StateCompleted, later, step, step)
		wantGone(t, b, ids[:step]...)
		wantThere(t, b, backend.StateCompleted, ids[step:]...)
		ids = ids[step:]
	}
	purge(t, b, backend.StateCompleted, later, 5, 0)
	qs, err := b.Queues(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Counts[backend.StateCompleted] != 0 {
			t.Fatalf("queue %s still counts %d completed", q.Name, q.Counts[backend.StateCompleted])
		}
	}
}

// TestPurgeQueuesTakingTurns: queues that finished batches of tasks in
// turn, so that no queue's first entries tell how far to read the others
// (the rounds after the first read a window of finish times). Whatever
// max cuts, no task left finished before one deleted.
func TestPurgeQueuesTakingTurns(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	testPurgeTakingTurns(t, openTest(t, srv))
}

func testPurgeTakingTurns(t *testing.T, b *redis.Backend) {
	var ids []string
	for range 5 {
		for _, q := range []string{"a", "b", "c"} {
			ids = append(ids, finishMany(t, b, backend.StateCompleted, q, 20)...)
		}
	}
	finished := map[string]time.Time{}
	for _, id := range ids {
		tk, err := b.Get(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		finished[id] = tk.FinishedAt
	}
	later := time.Now().Add(time.Hour)
	var newestGone time.Time
	for _, step := range []int{50, 77, 13, 1000} {
		want := min(step, len(finished))
		purge(t, b, backend.StateCompleted, later, step, want)
		var left []string
		for id, ft := range finished {
			if _, err := b.Get(ctxFor(t), id); errors.Is(err, backend.ErrNotFound) {
				if ft.After(newestGone) {
					newestGone = ft
				}
				delete(finished, id)
			} else if err != nil {
				t.Fatal(err)
			} else {
				left = append(left, id)
			}
		}
		for _, id := range left {
			if finished[id].Before(newestGone) {
				t.Fatalf("after Purge(max %d): task %s, finished %s, is left, and one finished at %s is gone",
					step, id, finished[id].Format(time.StampMicro), newestGone.Format(time.StampMicro))
			}
		}
	}
	if len(finished) != 0 {
		t.Fatalf("%d tasks left", len(finished))
	}
}

// TestPurgeInRounds: a backlog larger than one round (1000 entries) and
// spread over queues is purged exactly, up to max, oldest first.
func TestPurgeInRounds(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	b := openTest(t, srv)
	old := finishMany(t, b, backend.StateCompleted, "a", 1500)
	old = append(old, finishMany(t, b, backend.StateCompleted, "b", 1200)...)
	time.Sleep(5 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)
	recent := finishMany(t, b, backend.StateCompleted, "a", 10)
	purge(t, b, backend.StateCompleted, cutoff, 2600, 2600)
	wantGone(t, b, old[:1500]...) // all of a's: they finished first
	purge(t, b, backend.StateCompleted, cutoff, 1000, 100)
	wantGone(t, b, old...)
	wantThere(t, b, backend.StateCompleted, recent...)
	purge(t, b, backend.StateCompleted, cutoff, 1000, 0)
}

// TestPurgeConcurrent: two processes purge the same failed tasks while a
// third retries some of them. Every task is either purged, by exactly
// one of them, or retried and pending: none is lost or counted twice.
func TestPurgeConcurrent(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, c := twoProcesses(t, srv)
	const n = 1200
	var ids []string
	for _, q := range []string{"x", "y", "z"} {
		ids = append(ids, finishMany(t, a, backend.StateFailed, q, n/3)...)
	}
	ctx := ctxFor(t)
	later := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	purged := make([]int, 2)
	errs := make(chan error, 3)
	for i, p := range []*redis.Backend{a, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, err := p.Purge(ctx, 0, backend.StateFailed, time.Since(later), 20)
				purged[i] += k
				if err != nil {
					errs <- err
					return
				}
				if k == 0 {
					return
				}
			}
		}()
	}
	var retried []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := len(ids) - 1; i >= 0; i -= 3 {
			_, err := c.Retry(ctx, ids[i])
			switch {
			case err == nil:
				retried = append(retried, ids[i])
			case !errors.Is(err, backend.ErrNotFound):
				errs <- fmt.Errorf("retry %s: %w", ids[i], err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A purger stops early when the other consumed the entries it had
	// scanned: one more call deletes whatever is left.
	rest, err := a.Purge(ctx, 0, backend.StateFailed, time.Since(later), n)
	if err != nil {
		t.Fatal(err)
	}
	total := purged[0] + purged[1] + rest
	if total+len(retried) != n {
		t.Fatalf("purged %d+%d+%d and retried %d of %d tasks", purged[0], purged[1], rest, len(retried), n)
	}
	wantThere(t, a, backend.StatePending, retried...)
	t.Logf("purged %d and %d concurrently, retried %d", purged[0], purged[1], len(retried))
}
