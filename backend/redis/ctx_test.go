package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestContextEndsWhileRedisStalls: with Redis not answering (a proxy
// holds every command sent), each call returns when its ctx ends. A call
// still waiting in the coalescer is withdrawn and changed nothing (the
// ctx's error alone); a call already sent reports ErrUnknownOutcome, and
// indeed runs once Redis answers again.
func TestContextEndsWhileRedisStalls(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	proxy := testredis.NewProxy(t, srv.Addr())
	url := fmt.Sprintf("%s?prefix=ctx%d", proxy.URL(), prefixSeq.Add(1))
	b := openURL(t, url)
	ctx := ctxFor(t)
	tasks := []*backend.Task{task("default"), task("default")}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %v, %d", err, len(leased))
	}
	sent, queued := leased[0], leased[1]
	spare := task("default") // for the lease whose caller leaves
	if _, err := b.Enqueue(ctx, []*backend.Task{spare}); err != nil {
		t.Fatal(err)
	}

	returned := func(what string, errc <-chan error) error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second): // hang guard only
			t.Fatalf("%s did not return within 10s of its ctx's end", what)
			return nil
		}
	}
	call := func(ctx context.Context, f func(context.Context) error) <-chan error {
		errc := make(chan error, 1)
		go func() { errc <- f(ctx) }()
		return errc
	}

	proxy.Stall()
	before := proxy.Held()
	// The ack coalescer has one loop: once the first ack's bytes are held
	// by the proxy, that loop waits for Redis and the second ack waits in
	// the coalescer.
	ctxA, cancelA := context.WithCancel(ctx)
	errA := call(ctxA, func(ctx context.Context) error { return b.Ack(ctx, sent.Ref(), nil) })
	waitHeld := func(what string, before int) {
		t.Helper()
		// Polls the proxy's count of held commands; the deadline only guards
		// against a hang.
		for deadline := time.Now().Add(10 * time.Second); proxy.Held() <= before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the proxy", what)
			}
		}
	}
	waitHeld("the first ack", before)
	ctxB, cancelB := context.WithCancel(ctx)
	errB := call(ctxB, func(ctx context.Context) error { return b.Ack(ctx, queued.Ref(), nil) })
	cancelB()
	if err := returned("a queued ack", errB); !errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrUnknownOutcome) {
		t.Fatalf("queued ack whose ctx ended: %v, want context.Canceled alone (nothing sent)", err)
	}
	cancelA()
	if err := returned("a sent ack", errA); !errors.Is(err, context.Canceled) || !errors.Is(err, redis.ErrUnknownOutcome) {
		t.Fatalf("sent ack whose ctx ended: %v, want ErrUnknownOutcome and context.Canceled", err)
	}
	// A submit under a deadline, and reads and a lease canceled, return too.
	late := task("default")
	ctxC, cancelC := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelC()
	errC := call(ctxC, func(ctx context.Context) error { _, err := b.Enqueue(ctx, []*backend.Task{late}); return err })
	if err := returned("a submit", errC); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("submit past its deadline: %v, want context.DeadlineExceeded", err)
	}
	before = proxy.Held()
	ctxE, cancelE := context.WithCancel(ctx)
	errE := call(ctxE, func(ctx context.Context) error {
		_, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute})
		return err
	})
	waitHeld("the lease", before)
	ctxD, cancelD := context.WithCancel(ctx)
	errD := call(ctxD, func(ctx context.Context) error { _, err := b.Get(ctx, queued.ID); return err })
	cancelD()
	cancelE()
	if err := returned("a get", errD); !errors.Is(err, context.Canceled) {
		t.Fatalf("get whose ctx ended: %v, want context.Canceled", err)
	}
	if err := returned("a lease", errE); err != nil {
		t.Fatalf("lease whose ctx ended: %v, want nothing leased and no error", err)
	}

	proxy.Resume()
	// The sent ack ran; the withdrawn one did not, and its lease holds.
	waitState(t, b, sent.ID, backend.StateCompleted)
	if got, err := b.Get(ctx, queued.ID); err != nil || got.State != backend.StateProcessing {
		t.Fatalf("task of the withdrawn ack: %v %+v, want still processing", err, got)
	}
	if err := b.Ack(ctx, queued.Ref(), nil); err != nil {
		t.Fatalf("ack again, with a live ctx: %v", err)
	}
	// The lease was sent before its caller left: the task it took is
	// handed back at once, not left to expire.
	for {
		got, err := b.Get(context.Background(), spare.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == backend.StatePending && len(got.Attempts) == 1 && got.Attempts[0].Outcome == "released" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the task leased for a caller that left: %+v, want released back to pending", got)
		}
		time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

// waitState waits until the task is in state s (30s hang guard).
func waitState(t *testing.T, b backend.Backend, id string, s backend.State) {
	t.Helper()
	ctx := ctxFor(t)
	for {
		got, err := b.Get(ctx, id)
		if err == nil && got.State == s {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("task %s never became %s: %v %+v", id, s, err, got)
		}
		time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}
