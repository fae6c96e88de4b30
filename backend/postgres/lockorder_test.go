package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
)

// TestLeaseStatementsLockInOneOrder: two statements that update the same
// leased tasks, naming them in opposite orders, wait for each other
// instead of deadlocking. Two transactions hold one row each, and are
// committed one after the other once the Extends wait where they would
// wait had they locked in the order named (see the steps below), which
// ends in a deadlock: PostgreSQL aborts one Extend after
// deadlock_timeout and its caller gets an error. Ack batches lock the
// same way (lockedInIDOrder), so an ack batch and the heartbeat's Extend
// of the same leases — where the benchmark met this deadlock — cannot
// deadlock either.
func TestLeaseStatementsLockInOneOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, url := openURL(t, postgres.Options{})
	var tasks []*backend.Task
	for _, id := range []string{"lock-a", "lock-b"} {
		tasks = append(tasks, &backend.Task{ID: id, Type: "echo", Queue: "lockorder", State: backend.StatePending, MaxAttempts: 1})
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// Other leased tasks, and statistics that know of them, so that the
	// plans find the two rows by index in the order named, as on a busy
	// table, not by one scan of the few processing rows in id order.
	var filler []*backend.Task
	for i := range 2000 {
		filler = append(filler, &backend.Task{ID: fmt.Sprintf("filler-%04d", i), Type: "echo", Queue: "filler",
			State: backend.StatePending, MaxAttempts: 1})
	}
	if _, err := b.Enqueue(ctx, filler); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "other", Queues: []string{"filler"}, Max: len(filler),
		LeaseFor: time.Minute}); err != nil || len(got) != len(filler) {
		t.Fatalf("lease the other tasks: %d, %v", len(got), err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"lockorder"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %d tasks, %v", len(leased), err)
	}
	sort.Slice(leased, func(i, j int) bool { return leased[i].ID < leased[j].ID })
	forward := []backend.LeaseRef{leased[0].Ref(), leased[1].Ref()}
	backward := []backend.LeaseRef{leased[1].Ref(), leased[0].Ref()}

	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	holdA, holdB, watcher := conn(), conn(), conn()
	if _, err := watcher.Exec(ctx, `ANALYZE taskmill.tasks`); err != nil {
		t.Fatal(err)
	}
	hold := func(c *pgx.Conn, id string) pgx.Tx {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		if _, err := tx.Exec(ctx, `SELECT 1 FROM taskmill.tasks WHERE id = $1 FOR UPDATE`, id); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	txA, txB := hold(holdA, "lock-a"), hold(holdB, "lock-b")
	// await polls the server's own record of who waits for a lock until
	// want of the Extends wait (for a tuple's lock only, when tuple).
	await := func(what string, want int, tuple bool) {
		for {
			var n int
			if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%lease_expires_at = %'
				  AND (NOT $1 OR wait_event = 'tuple')`, tuple).Scan(&n); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if n >= want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: never happened", what)
			}
			// Polled, not awaited: PostgreSQL announces no lock wait;
			// pg_stat_activity is the only record of it. ctx is the
			// hang guard.
			time.Sleep(2 * time.Millisecond)
		}
	}
	errs := make(chan error, 2)
	extend := func(refs []backend.LeaseRef) {
		res, err := b.Extend(ctx, "w", refs, time.Minute)
		if err == nil {
			for _, r := range res {
				if !r.Held {
					t.Errorf("extend: lease of %s not held", r.TaskID)
				}
			}
		}
		errs <- err
	}
	// Had each Extend locked in the order named: the first takes nothing
	// and waits at b; the second waits at a; b freed, the first takes b
	// and queues at a behind the second; a freed, the second takes a and
	// waits for b, which the first holds while it waits for a.
	go extend(backward)
	await("the first extend waits", 1, false)
	go extend(forward)
	await("the second extend waits", 2, false)
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	await("an extend waits in line at a row", 1, true)
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("extend: %v", err)
		}
	}
}
