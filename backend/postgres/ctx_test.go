package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
)

// TestContextEndsWhileAFlushIsHeld: with the one flusher held (its
// INSERT waits for a table lock), each Enqueue returns when its ctx ends.
// A call still waiting for the flusher is withdrawn and changed nothing
// (the ctx's error alone, the task never stored); the call the flusher
// had taken reports ErrUnknownOutcome, and indeed commits once the lock
// goes.
func TestContextEndsWhileAFlushIsHeld(t *testing.T) {
	b := open(t, postgres.Options{Flushers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newTask := func(id string) *backend.Task {
		return &backend.Task{ID: id, Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 1}
	}
	enqueue := func(ctx context.Context, id string) <-chan error {
		errc := make(chan error, 1)
		go func() { _, err := b.Enqueue(ctx, []*backend.Task{newTask(id)}); errc <- err }()
		return errc
	}
	returned := func(what string, errc <-chan error) error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(30 * time.Second): // hang guard only
			t.Fatalf("%s did not return within 30s of its ctx's end", what)
			return nil
		}
	}
	// until polls a condition; the deadline only guards against a hang.
	until := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s never happened", what)
			}
			// Polled, not awaited: neither PostgreSQL's lock waits
			// (pg_stat_activity) nor the coalescer's queue length
			// announce a change; ctx is the hang guard.
			time.Sleep(time.Millisecond)
		}
	}

	lock, err := b.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // rolled back below; a no-op then
	if _, err := lock.Exec(ctx, "LOCK TABLE "+b.Schema()+".tasks IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	ctxTaken, cancelTaken := context.WithCancel(ctx)
	errTaken := enqueue(ctxTaken, "taken")
	until("the flusher's INSERT waiting for the lock", func() bool {
		var n int
		err := b.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%'`).Scan(&n)
		return err == nil && n > 0
	})
	ctxQueued, cancelQueued := context.WithCancel(ctx)
	errQueued := enqueue(ctxQueued, "queued")
	until("the second Enqueue queued behind the held flush", func() bool { return postgres.QueuedEnqueues(b) == 1 })
	cancelQueued()
	if err := returned("a queued Enqueue", errQueued); !errors.Is(err, context.Canceled) || errors.Is(err, postgres.ErrUnknownOutcome) {
		t.Fatalf("queued Enqueue whose ctx ended: %v, want context.Canceled alone (nothing stored)", err)
	}
	cancelTaken()
	if err := returned("a taken Enqueue", errTaken); !errors.Is(err, context.Canceled) || !errors.Is(err, postgres.ErrUnknownOutcome) {
		t.Fatalf("taken Enqueue whose ctx ended: %v, want ErrUnknownOutcome and context.Canceled", err)
	}

	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The one flusher takes calls in order: once a later Enqueue returns,
	// the withdrawn one has had its turn.
	if err := returned("an Enqueue after the lock", enqueue(ctx, "after")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"taken", "after"} {
		if _, err := b.Get(ctx, id); err != nil {
			t.Fatalf("task %s: %v, want stored", id, err)
		}
	}
	if got, err := b.Get(ctx, "queued"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the withdrawn Enqueue's task: %v %+v, want ErrNotFound", err, got)
	}
}
