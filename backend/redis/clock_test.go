package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// testClock is the offset every process of a test adds to the Redis
// server's TIME: the test moves the backend's time by moving it.
type testClock struct{ off atomic.Int64 }

func (c *testClock) offset() time.Duration   { return time.Duration(c.off.Load()) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// skewedProcess opens a backend on url that shares clock and plays a
// host whose own clock is skew off the truth.
func skewedProcess(t *testing.T, url string, clock *testClock, skew time.Duration) *redis.Backend {
	t.Helper()
	opts := testOptions()
	opts.ClockOffset = clock.offset
	b, err := redis.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestHostClocksDoNotMatter: two processes whose host clocks disagree by
// a minute (one 30s fast, one 30s slow) share one Redis. Leases, their
// expiry, retry times and reclaim follow the server's clock alone: no
// lease expires early, no task runs twice, and time moves only when the
// backend's clock (the test's offset) does.
func TestHostClocksDoNotMatter(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	url := fmt.Sprintf("%s?prefix=skew%d", srv.URL(), prefixSeq.Add(1))
	clock := &testClock{}
	fast := skewedProcess(t, url, clock, 30*time.Second)
	slow := skewedProcess(t, url, clock, -30*time.Second)
	ctx := ctxFor(t)
	hostOf := map[*redis.Backend]time.Duration{fast: 30 * time.Second, slow: -30 * time.Second}
	// reclaim calls Reclaim as a process would, with its host's time.
	reclaim := func(b *redis.Backend) int {
		t.Helper()
		n, err := b.Reclaim(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	var tasks []*backend.Task
	for range 20 {
		tasks = append(tasks, task("default"))
	}
	if _, err := fast.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	serverBefore, err := slow.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const leaseFor = 10 * time.Second
	byFast, err := fast.Lease(ctx, backend.LeaseRequest{WorkerID: "fast", Queues: []string{"default"}, Max: 10, LeaseFor: leaseFor})
	if err != nil || len(byFast) != 10 {
		t.Fatalf("lease by the fast host: %v, %d tasks", err, len(byFast))
	}
	bySlow, err := slow.Lease(ctx, backend.LeaseRequest{WorkerID: "slow", Queues: []string{"default"}, Max: 10, LeaseFor: leaseFor})
	if err != nil || len(bySlow) != 10 {
		t.Fatalf("lease by the slow host: %v, %d tasks", err, len(bySlow))
	}
	serverAfter, err := fast.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every lease runs leaseFor from the server's now, whichever host
	// took it: 30s off either way would be far outside this bound.
	for _, l := range append(append([]*backend.Task{}, byFast...), bySlow...) {
		if l.LeaseExpiresAt.Before(serverBefore.Add(leaseFor)) || l.LeaseExpiresAt.After(serverAfter.Add(leaseFor)) {
			t.Fatalf("task %s: lease expires at %s, want within [%s, %s] (server time + %s)", l.ID,
				l.LeaseExpiresAt, serverBefore.Add(leaseFor), serverAfter.Add(leaseFor), leaseFor)
		}
	}
	// The fast host sees every lease as 30s old, past its expiry: it must
	// reclaim none. Nor must the slow one.
	if n := reclaim(fast); n != 0 {
		t.Fatalf("the fast host reclaimed %d live leases", n)
	}
	if n := reclaim(slow); n != 0 {
		t.Fatalf("the slow host reclaimed %d live leases", n)
	}
	// 9s later by the backend's clock the leases still hold.
	clock.advance(9 * time.Second)
	if n := reclaim(fast); n != 0 {
		t.Fatalf("9s into a 10s lease the fast host reclaimed %d leases", n)
	}
	if again, err := slow.Lease(ctx, backend.LeaseRequest{WorkerID: "slow", Queues: []string{"default"}, Max: 20, LeaseFor: leaseFor}); err != nil || len(again) != 0 {
		t.Fatalf("a second lease found %d tasks (%v): a task would run twice", len(again), err)
	}
	// Every run's result is recorded; each task ran once.
	for _, l := range byFast {
		if err := fast.Ack(ctx, l.Ref(), nil); err != nil {
			t.Fatalf("ack by the fast host: %v", err)
		}
	}
	for _, l := range bySlow[1:] {
		if err := slow.Ack(ctx, l.Ref(), nil); err != nil {
			t.Fatalf("ack by the slow host: %v", err)
		}
	}
	for _, l := range append(byFast, bySlow[1:]...) {
		got, err := slow.Get(ctx, l.ID)
		if err != nil || got.State != backend.StateCompleted || got.Attempt != 1 || len(got.Attempts) != 1 {
			t.Fatalf("task %s: %v %+v, want completed after one attempt", l.ID, err, got)
		}
	}
	// Past its expiry by the backend's clock, the one lease left is
	// reclaimed, by either host.
	clock.advance(2 * time.Second)
	if n := reclaim(slow); n != 1 {
		t.Fatalf("11s into a 10s lease the slow host reclaimed %d leases, want 1", n)
	}

	// A retry's delay runs on the backend's clock too: the slow host
	// fails a task with a 5s backoff; neither host's clock brings it
	// back early.
	l, err := slow.Lease(ctx, backend.LeaseRequest{WorkerID: "slow", Queues: []string{"default"}, Max: 1, LeaseFor: leaseFor})
	if err != nil || len(l) != 1 {
		t.Fatalf("lease the reclaimed task: %v, %d", err, len(l))
	}
	f := backend.Failure{Error: "boom", RetryIn: 5 * time.Second}
	if err := slow.Fail(ctx, l[0].Ref(), f); err != nil {
		t.Fatal(err)
	}
	clock.advance(4 * time.Second)
	for _, b := range []*redis.Backend{fast, slow} {
		if got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w" + fmt.Sprint(hostOf[b]), Queues: []string{"default"}, Max: 1, LeaseFor: leaseFor}); err != nil || len(got) != 0 {
			t.Fatalf("4s into a 5s backoff a lease took %d tasks (%v)", len(got), err)
		}
	}
	clock.advance(2 * time.Second)
	got, err := fast.Lease(ctx, backend.LeaseRequest{WorkerID: "fast", Queues: []string{"default"}, Max: 1, LeaseFor: leaseFor})
	if err != nil || len(got) != 1 || got[0].ID != l[0].ID {
		t.Fatalf("6s into a 5s backoff: %v, %d tasks, want the retried one", err, len(got))
	}

	// A host's clock reaches the backend only through the times a task
	// is submitted with: each host asks for a run 5s after its own now,
	// and both tasks come due 5s after the server's now, together.
	var delayed []*backend.Task
	for b, skew := range hostOf {
		tk := task("delayed")
		tk.CreatedAt = time.Now().Add(skew)
		tk.State, tk.RunAt = backend.StateScheduled, tk.CreatedAt.Add(5*time.Second)
		if _, err := b.Enqueue(ctx, []*backend.Task{tk}); err != nil {
			t.Fatal(err)
		}
		delayed = append(delayed, tk)
	}
	serverNow, err := fast.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range delayed {
		got, err := slow.Get(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Less than 5s: the server's clock ran on since the submit. A
		// host's skew would put it 30s off either way.
		if d := got.RunAt.Sub(serverNow); d <= 0 || d > 5*time.Second {
			t.Fatalf("task submitted by a skewed host runs %v after the server's now, want up to 5s", d)
		}
	}
	clock.advance(4 * time.Second)
	if n, err := fast.Promote(ctx, 0); err != nil || n != 0 {
		t.Fatalf("4s into a 5s delay, Promote moved %d (%v)", n, err)
	}
	clock.advance(2 * time.Second)
	if n, err := slow.Promote(ctx, 0); err != nil || n != 2 {
		t.Fatalf("6s into a 5s delay, Promote moved %d (%v), want both", n, err)
	}
}
