package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/testpg"
)

// claimLog is an execer that notes the unique keys claimed through it,
// in the order they were claimed.
type claimLog struct {
	pgxExecer
	keys []string
}

func (c *claimLog) firstString(ctx context.Context, sql string, args ...any) (string, bool, error) {
	if strings.Contains(sql, "INSERT INTO") && strings.Contains(sql, "unique_keys") {
		c.keys = append(c.keys, args[0].(string)+"/"+args[1].(string))
	}
	return c.pgxExecer.firstString(ctx, sql, args...)
}

// TestUniqueKeysClaimedInKeyOrder: a call claims its unique keys in
// (queue, key) order whatever the order of its tasks, so that two
// transactions claiming the same keys wait for each other instead of
// deadlocking; among its tasks sharing a key the first in task order
// takes it; and the tasks it stores keep their order.
func TestUniqueKeysClaimedInKeyOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Open(ctx, testpg.Shared(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mk := func(id, queue, key string) *backend.Task {
		return &backend.Task{ID: id, Type: "echo", Queue: queue, State: backend.StatePending, MaxAttempts: 1,
			UniqueKey: key, UniqueUntil: time.Now().Add(time.Hour), CreatedAt: time.Now()}
	}
	tasks := []*backend.Task{mk("uko-1", "uko-q", "k2"), mk("uko-2", "uko-p", "k9"), mk("uko-3", "uko-q", "k1"), mk("uko-4", "uko-q", "k2"), mk("uko-5", "uko-q", "")}
	var results []backend.EnqueueResult
	var stored []*backend.Task
	log := &claimLog{}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		log.pgxExecer = pgxExecer{tx}
		var err error
		results, stored, err = b.enqueueIn(ctx, log, tasks)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(log.keys, " "), "uko-p/k9 uko-q/k1 uko-q/k2"; got != want {
		t.Fatalf("keys claimed in the order %s, want %s", got, want)
	}
	if !results[3].Duplicate || results[3].ID != "uko-1" || results[0].Duplicate {
		t.Fatalf("results %+v: the first task with uko-q/k2 (uko-1) should hold it and uko-4 be its duplicate", results)
	}
	var ids []string
	for _, s := range stored {
		ids = append(ids, s.ID)
	}
	if got, want := strings.Join(ids, " "), "uko-1 uko-2 uko-3 uko-5"; got != want {
		t.Fatalf("stored %s, want %s in task order", got, want)
	}
}
