package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestUpkeepVisitsOnlyDueQueues: with hundreds of known queues that hold
// nothing due, Reclaim and Promote after their first walk visit only the
// queues the due index names — the Redis commands they send do not grow
// with the idle queues — and still find the expired lease and the due
// delayed task. A process that starts on a store without the index (an
// older version wrote it) finds them too: its first call walks.
func TestUpkeepVisitsOnlyDueQueues(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	prefix := fmt.Sprintf("due%d", prefixSeq.Add(1))
	clock := &testClock{}
	open := func() *redis.Backend {
		opts := testOptions()
		opts.ClockOffset = clock.offset
		b, err := redis.Open(context.Background(), srv.URL()+"?prefix="+prefix, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	b := open()
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := ctxFor(t)

	const idle = 300
	for i := range idle {
		if err := b.PauseQueue(ctx, fmt.Sprintf("idle%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// One lease that will expire, one delayed task that will come due.
	if _, err := b.Enqueue(ctx, []*backend.Task{task("busy")}); err != nil {
		t.Fatal(err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"busy"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v, %d tasks", err, len(leased))
	}
	later := task("later")
	later.State = backend.StateScheduled
	later.RunAt = time.Now().Add(time.Minute)
	if _, err := b.Enqueue(ctx, []*backend.Task{later}); err != nil {
		t.Fatal(err)
	}

	upkeep := func(b *redis.Backend) (reclaimed, promoted int) {
		t.Helper()
		r, err := b.Reclaim(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.Promote(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r, p
	}
	// The first calls walk every queue: nothing is due yet.
	if r, p := upkeep(b); r != 0 || p != 0 {
		t.Fatalf("before anything is due: reclaimed %d, promoted %d", r, p)
	}
	clock.advance(2 * time.Minute)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if r, p := upkeep(b); r != 1 || p != 1 {
		t.Fatalf("once due: reclaimed %d, promoted %d, want 1 and 1", r, p)
	}
	// Without the index each call would range over every queue: a
	// ZRANGEBYSCORE per queue for reclaim, two for promote.
	if n := commandCalls(t, rdb, "zrangebyscore"); n > 20 {
		t.Fatalf("upkeep ran ZRANGEBYSCORE %d times with %d idle queues: it walked them", n, idle)
	}
	// Nothing is due any more: the visited queues left the index.
	if n := rdb.ZCard(ctx, prefix+":due").Val(); n != 0 {
		t.Fatalf("due index holds %d queues with nothing due: %v", n, rdb.ZRange(ctx, prefix+":due", 0, -1).Val())
	}

	// What the hot path files after the walk reaches the index by itself:
	// a lease (lease.lua), a retry (finish.lua), a delayed task
	// (enqueue.lua), each in a queue of its own.
	if _, err := b.Enqueue(ctx, []*backend.Task{task("busy2"), task("flaky")}); err != nil {
		t.Fatal(err)
	}
	if l, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"busy2"}, Max: 1, LeaseFor: time.Minute}); err != nil || len(l) != 1 {
		t.Fatalf("lease busy2: %v, %d tasks", err, len(l))
	}
	l, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"flaky"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(l) != 1 {
		t.Fatalf("lease flaky: %v, %d tasks", err, len(l))
	}
	if err := b.Fail(ctx, l[0].Ref(), backend.Failure{Error: "boom", RetryIn: time.Minute}); err != nil {
		t.Fatal(err)
	}
	later = task("later2")
	later.State = backend.StateScheduled
	later.RunAt = time.Now().Add(2 * time.Minute) // the backend's now is two minutes on
	if _, err := b.Enqueue(ctx, []*backend.Task{later}); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Minute)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if r, p := upkeep(b); r != 1 || p != 2 {
		t.Fatalf("after the hot path filed them: reclaimed %d, promoted %d, want 1 and 2", r, p)
	}
	if n := commandCalls(t, rdb, "zrangebyscore"); n > 20 {
		t.Fatalf("upkeep ran ZRANGEBYSCORE %d times with %d idle queues: it walked them", n, idle)
	}

	// A store whose index is gone: a process's first upkeep walks.
	if _, err := b.Enqueue(ctx, []*backend.Task{task("busy")}); err != nil {
		t.Fatal(err)
	}
	leased, err = b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"busy"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease again: %v, %d tasks", err, len(leased))
	}
	if err := rdb.Del(ctx, prefix+":due").Err(); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Minute)
	if r, _ := upkeep(open()); r != 2 {
		t.Fatalf("a new process on a store without the index reclaimed %d leases, want 2", r)
	}
}

// commandCalls is how many times Redis ran the command since its stats
// were reset, scripts' calls included.
func commandCalls(t *testing.T, rdb *goredis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 0
}
