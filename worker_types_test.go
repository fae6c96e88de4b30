package taskmill_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/model"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestWorkersLeaseOnlyTheirTypes: a worker that handles only "a" and one
// that handles only "b" share one queue holding both types; every task
// completes, run by the worker of its type, and none fails for want of a
// handler (issue #10, "Workers take only what they can run").
func TestWorkersLeaseOnlyTheirTypes(t *testing.T) {
	// connect returns a function that opens a connection to one store:
	// on Redis each worker gets its own, as separate processes would.
	for _, k := range []struct {
		name    string
		connect func(t *testing.T) func() backend.Backend
	}{
		{"model", func(t *testing.T) func() backend.Backend {
			m := model.New(model.Options{})
			t.Cleanup(func() { m.Close() })
			return func() backend.Backend { return m }
		}},
		{"embedded", func(t *testing.T) func() backend.Backend {
			b, err := embedded.Open(t.TempDir(), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return func() backend.Backend { return b }
		}},
		{"redis", func(t *testing.T) func() backend.Backend {
			srv := testredis.Start(t, testredis.Options{})
			return func() backend.Backend {
				b, err := redis.Open(context.Background(), srv.URL(), redis.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			connect := k.connect(t)
			b := connect()
			ctx := context.Background()
			ids := map[string]string{} // worker id by type
			for _, typ := range []string{"a", "b"} {
				mux := taskmill.NewServeMux()
				mux.HandleFunc(typ, func(context.Context, *taskmill.Task) (any, error) { return typ, nil })
				w, err := taskmill.NewWorker(connect(), taskmill.WorkerConfig{Handler: mux, Concurrency: 2, ID: "only-" + typ,
					LeaseDuration: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Stop(context.Background()) })
				ids[typ] = w.ID()
			}
			client := taskmill.NewClient(b, taskmill.ClientConfig{})
			var tasks []*taskmill.TaskInfo
			for i := range 40 {
				typ := []string{"a", "b"}[i%2]
				info, err := client.Enqueue(ctx, typ, map[string]int{"n": i}, taskmill.MaxAttempts(1))
				if err != nil {
					t.Fatal(err)
				}
				tasks = append(tasks, info)
			}
			deadline := time.Now().Add(30 * time.Second)
			for _, info := range tasks {
				for {
					got, err := client.Get(ctx, info.ID)
					if err != nil {
						t.Fatal(err)
					}
					if got.State == taskmill.StateFailed {
						t.Fatalf("task %s of type %s failed: %s", got.ID, got.Type, got.LastError)
					}
					if got.State == taskmill.StateCompleted {
						if want := fmt.Sprintf("%q", got.Type); string(got.Result) != want || len(got.Attempts) != 1 || got.Attempts[0].WorkerID != ids[got.Type] {
							t.Fatalf("task of type %s: result %s, attempts %+v; want it run once by %s", got.Type, got.Result, got.Attempts, ids[got.Type])
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("task %s of type %s still %s after 30s", got.ID, got.Type, got.State)
					}
					time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
				}
			}
		})
	}
}
