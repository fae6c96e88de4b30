package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/internal/testpg"
)

// TestUpgradeKeepsCounts: an install made before migration 0003 (counts
// kept by an update trigger) holds tasks; Open applies 0003, and the
// counts it had stay right as its tasks are leased, acked and failed by
// the statements that now count for themselves.
func TestUpgradeKeepsCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testpg.Shared(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.MigrateTo(ctx, pool, "old", 2); err != nil {
		t.Fatalf("migrations 0001-0002: %v", err)
	}
	// Three pending tasks, stored as the old build stored them; its
	// insert trigger counted them.
	if _, err := pool.Exec(ctx, `INSERT INTO old.tasks (id, seq, queue, type, state, priority, max_attempts, created_at, ready_at)
		SELECT 'old' || i, nextval('old.task_seq'), 'q', 'x', 'pending', 0, 1, now(), now() FROM generate_series(1, 3) i`); err != nil {
		t.Fatal(err)
	}
	b, err := postgres.Open(ctx, url, postgres.Options{Schema: "old"})
	if err != nil {
		t.Fatalf("open (applies 0003): %v", err)
	}
	defer b.Close()
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"q"}, Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %v, %d tasks; want 2", err, len(leased))
	}
	ref := func(t *backend.Task) backend.LeaseRef {
		return backend.LeaseRef{TaskID: t.ID, Token: t.LeaseToken, Secret: t.LeaseSecret}
	}
	if err := b.Ack(ctx, ref(leased[0]), nil); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if err := b.Fail(ctx, ref(leased[1]), backend.Failure{Error: "boom", Final: true}); err != nil {
		t.Fatalf("fail: %v", err)
	}
	qs, err := b.Queues(ctx)
	if err != nil || len(qs) != 1 {
		t.Fatalf("queues: %v %v", qs, err)
	}
	want := map[backend.State]int{backend.StatePending: 1, backend.StateCompleted: 1, backend.StateFailed: 1}
	for _, s := range backend.States {
		if qs[0].Counts[s] != want[s] {
			t.Errorf("count of %s = %d, want %d (all: %v)", s, qs[0].Counts[s], want[s], qs[0].Counts)
		}
	}
}
