package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/internal/testpg"
)

// TestTwoProcessesShareEventsAndWork: two backends on one database stand
// for two processes. A subscriber on B sees the events of work done on A
// (A publishes only once it learns B has a subscriber, which B
// announces), a worker blocked in Lease on B is woken by A's enqueue,
// and a cancel on A reaches B's WatchCancels.
func TestTwoProcessesShareEventsAndWork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, url := openURL(t, postgres.Options{PollInterval: time.Hour})
	b, err := postgres.Open(ctx, url, postgres.Options{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancels, err := b.WatchCancels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A learns of B's subscriber through the database; enqueue on A until
	// an event of it arrives on B (each try is a fresh task).
	seen := false
	for try := 0; !seen; try++ {
		if try == 100 {
			t.Fatal("no event from A reached B's subscriber")
		}
		task := &backend.Task{ID: "probe-" + time.Now().Format("150405.000000"), Type: "echo", Queue: "probe",
			State: backend.StatePending, MaxAttempts: 1, Payload: json.RawMessage(`{}`)}
		if _, err := a.Enqueue(ctx, []*backend.Task{task}); err != nil {
			t.Fatal(err)
		}
		wait := time.NewTimer(200 * time.Millisecond)
	drain:
		for {
			select {
			case e := <-events:
				if e.Kind == backend.EventTaskUpdate && e.Task.ID == task.ID {
					seen = true
					break drain
				}
			case <-wait.C:
				break drain
			}
		}
		wait.Stop()
	}

	got := make(chan []*backend.Task, 1)
	go func() {
		ts, _ := b.Lease(ctx, backend.LeaseRequest{WorkerID: "wb", Queues: []string{"work"}, Max: 1,
			LeaseFor: time.Minute, Wait: 45 * time.Second})
		got <- ts
	}()
	task := &backend.Task{ID: "work-1", Type: "echo", Queue: "work", State: backend.StatePending, MaxAttempts: 1}
	if _, err := a.Enqueue(ctx, []*backend.Task{task}); err != nil {
		t.Fatal(err)
	}
	leased := <-got // polling is an hour: only A's NOTIFY can have woken it
	if len(leased) != 1 || leased[0].ID != task.ID {
		t.Fatalf("B's blocked Lease got %d tasks", len(leased))
	}
	if _, err := a.Cancel(ctx, task.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-cancels:
		if id != task.ID {
			t.Fatalf("WatchCancels on B got %s, want %s", id, task.ID)
		}
	case <-ctx.Done():
		t.Fatal("the cancel on A did not reach B's WatchCancels")
	}
}

// TestSchemasShareADatabase: installs under different schemas of one
// fresh database start at the same moment (migrations race on the
// database's shared pg_trgm extension), and each then keeps its own
// tasks.
func TestSchemasShareADatabase(t *testing.T) {
	url := testpg.Shared(t)
	const n = 4
	backends := make([]*postgres.Backend, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			<-start
			backends[i], errs[i] = postgres.Open(ctx, url, postgres.Options{Schema: fmt.Sprintf("install_%d", i)})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open schema install_%d: %v", i, err)
		}
		t.Cleanup(func() { backends[i].Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, b := range backends {
		task := &backend.Task{ID: fmt.Sprintf("t%d", i), Type: "echo", Queue: "default",
			State: backend.StatePending, MaxAttempts: 1, Payload: json.RawMessage(`{}`)}
		if _, err := b.Enqueue(ctx, []*backend.Task{task}); err != nil {
			t.Fatalf("enqueue on install_%d: %v", i, err)
		}
	}
	for i, b := range backends {
		for j := range n {
			_, err := b.Get(ctx, fmt.Sprintf("t%d", j))
			if found := err == nil; found != (i == j) {
				t.Errorf("install_%d: Get(t%d) err = %v; each schema must see its own task only", i, j, err)
			}
		}
	}
}
