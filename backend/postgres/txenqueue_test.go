package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
)

// txCase is one way of running the application's transaction: pgx or
// database/sql. insertOrder writes the application's own row, enqueue
// submits the task in the same transaction.
type txCase struct {
	name string
	run  func(t *testing.T, b *postgres.Backend, task *backend.Task, commit bool)
}

func txCases(url func() string) []txCase {
	return []txCase{
		{"pgx", func(t *testing.T, b *postgres.Backend, task *backend.Task, commit bool) {
			ctx := context.Background()
			tx, err := b.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
			if _, err := tx.Exec(ctx, "INSERT INTO orders (id) VALUES ($1)", task.ID); err != nil {
				t.Fatal(err)
			}
			res, err := b.EnqueueTx(ctx, tx, []*backend.Task{task})
			if err != nil || len(res) != 1 || res[0].Duplicate {
				t.Fatalf("EnqueueTx: %v %+v", err, res)
			}
			if commit {
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			} else if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"database/sql", func(t *testing.T, b *postgres.Backend, task *backend.Task, commit bool) {
			ctx := context.Background()
			db, err := sql.Open("pgx", url())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
			if _, err := tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES ($1)", task.ID); err != nil {
				t.Fatal(err)
			}
			res, err := b.EnqueueSQLTx(ctx, tx, []*backend.Task{task})
			if err != nil || len(res) != 1 || res[0].Duplicate {
				t.Fatalf("EnqueueSQLTx: %v %+v", err, res)
			}
			if commit {
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			} else if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// TestEnqueueTx: a task submitted in the application's transaction
// exists exactly when that transaction commits — a rollback leaves
// neither the row nor the task (nor a count); a commit's task wakes a
// worker blocked in Lease (the NOTIFY is part of the transaction) and
// runs.
func TestEnqueueTx(t *testing.T) {
	var url string
	for _, tc := range txCases(func() string { return url }) {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, u := openURL(t, postgres.Options{PollInterval: time.Hour}) // only the NOTIFY can wake a worker in time
			url = u
			if _, err := b.Pool().Exec(ctx, "CREATE TABLE orders (id text PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			client := taskmill.NewClient(b, taskmill.ClientConfig{})

			rolledBack, err := client.Prepare(ctx, taskmill.TaskRequest{Type: "ship", Payload: []byte(`{"order":1}`)})
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, b, rolledBack, false)
			if _, err := b.Get(ctx, rolledBack.ID); !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("after rollback Get = %v, want ErrNotFound", err)
			}
			var orders int
			if err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&orders); err != nil || orders != 0 {
				t.Fatalf("orders after rollback: %d %v", orders, err)
			}
			qs, err := b.Queues(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range qs {
				for s, n := range q.Counts {
					if n != 0 {
						t.Fatalf("queue %s counts %d %s tasks after a rollback", q.Name, n, s)
					}
				}
			}

			type leased struct {
				tasks []*backend.Task
				err   error
			}
			got := make(chan leased, 1)
			go func() {
				ts, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1,
					LeaseFor: time.Minute, Wait: 45 * time.Second})
				got <- leased{ts, err}
			}()
			committed, err := client.Prepare(ctx, taskmill.TaskRequest{Type: "ship", Payload: []byte(`{"order":2}`)})
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, b, committed, true)
			r := <-got
			if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != committed.ID {
				t.Fatalf("blocked Lease after the commit: %v %d tasks", r.err, len(r.tasks))
			}
			if err := b.Ack(ctx, r.tasks[0].Ref(), []byte(`{"shipped":true}`)); err != nil {
				t.Fatal(err)
			}
			done, err := b.Get(ctx, committed.ID)
			if err != nil || done.State != backend.StateCompleted {
				t.Fatalf("committed task: %v %+v", err, done)
			}
			if err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&orders); err != nil || orders != 1 {
				t.Fatalf("orders after commit: %d %v", orders, err)
			}
		})
	}
}

// TestEnqueueTxDuplicateKeepsTransaction: an id that exists fails the
// call with ErrDuplicate and leaves the caller's transaction usable (the
// work ran under a savepoint).
func TestEnqueueTxDuplicateKeepsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, _ := openURL(t, postgres.Options{})
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	task, err := client.Prepare(ctx, taskmill.TaskRequest{Type: "ship"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Enqueue(ctx, []*backend.Task{task}); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, b.Pool(), func(tx pgx.Tx) error {
		again := task.Clone()
		if _, err := b.EnqueueTx(ctx, tx, []*backend.Task{again}); !errors.Is(err, backend.ErrDuplicate) {
			t.Fatalf("EnqueueTx of an existing id: %v, want ErrDuplicate", err)
		}
		var one int
		return tx.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		t.Fatalf("the transaction after a refused EnqueueTx: %v", err)
	}
}
