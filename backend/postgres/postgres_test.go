package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// open returns a backend on a fresh database of the shared test server.
func open(t *testing.T, opts postgres.Options) *postgres.Backend {
	t.Helper()
	b, _ := openURL(t, opts)
	return b
}

// openURL is open that also returns the database's URL.
func openURL(t *testing.T, opts postgres.Options) (*postgres.Backend, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testpg.Shared(t)
	b, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, url
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		return open(t, postgres.Options{Clock: clock})
	})
}

func TestDifferential(t *testing.T) {
	// One database for the whole test and a schema per run, dropped when
	// the run closes its backend: the million-operation soak makes 4,000
	// runs, and a database each (kept until the test ends) cost seconds
	// apiece and gigabytes of disk.
	url := testpg.Shared(t)
	var runs atomic.Int64
	backendtest.Differential(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		schema := fmt.Sprintf("diff_%d", runs.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b, err := postgres.Open(ctx, url, postgres.Options{Clock: clock, Schema: schema})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return dropOnClose{b, url, schema}
	})
}

// dropOnClose is a backend whose Close also drops its schema.
type dropOnClose struct {
	*postgres.Backend
	url, schema string
}

func (d dropOnClose) Close() error {
	err := d.Backend.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, cerr := pgx.Connect(ctx, d.url)
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	defer c.Close(ctx)
	_, derr := c.Exec(ctx, "DROP SCHEMA "+d.schema+" CASCADE")
	return errors.Join(err, derr)
}

// TestSettleIndexesSubmitted: after Settle no submitted task waits for
// the search index, and each is in it once.
func TestSettleIndexesSubmitted(t *testing.T) {
	b := open(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tasks []*backend.Task
	for i := range 30 {
		tasks = append(tasks, &backend.Task{ID: fmt.Sprintf("settle-%02d", i), Type: "echo", Queue: "default",
			State: backend.StatePending, MaxAttempts: 1, Payload: []byte(`{"n":1}`)})
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	if err := b.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	var pending, indexed int
	err := b.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s.task_search_pending),
		(SELECT count(*) FROM %[1]s.task_search WHERE id LIKE 'settle-%%')`, b.Schema())).Scan(&pending, &indexed)
	if err != nil {
		t.Fatal(err)
	}
	if pending != 0 || indexed != len(tasks) {
		t.Fatalf("after Settle: %d tasks wait for the index, %d of %d are in it", pending, indexed, len(tasks))
	}
}
