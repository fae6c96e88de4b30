package taskmill_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
)

// BenchmarkEmbeddedSubmit measures durable single submits (each returns
// after its fsync) from many goroutines; group commit shares the fsyncs.
func BenchmarkEmbeddedSubmit(b *testing.B) {
	be, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	client := taskmill.NewClient(be, taskmill.ClientConfig{})
	payload := []byte(`{"n":35}`)
	b.SetParallelism(25) // 25 × GOMAXPROCS concurrent submitters
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Enqueue(context.Background(), "fibonacci", payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkEmbeddedSubmitBatch measures SubmitMany with 100 tasks a call.
func BenchmarkEmbeddedSubmitBatch(b *testing.B) {
	be, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	client := taskmill.NewClient(be, taskmill.ClientConfig{})
	batch := make([]taskmill.TaskRequest, 100)
	for i := range batch {
		batch[i] = taskmill.TaskRequest{Type: "fibonacci", Payload: []byte(`{"n":35}`)}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := client.SubmitMany(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkEmbeddedSubmitToComplete measures the whole hot path: submit →
// lease → run (a no-op handler) → ack, durable at each step, with 50 worker
// slots and the submits coming from concurrent clients.
func BenchmarkEmbeddedSubmitToComplete(b *testing.B) { benchSubmitToComplete(b, nil) }

// benchSubmitToComplete runs the submit-to-complete benchmark with obs on
// the worker. The clock stops when the store counts every task completed,
// that is after the last ack, not when the last handler returns.
func benchSubmitToComplete(b *testing.B, obs taskmill.Observer) {
	be, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	mux := taskmill.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	w, err := taskmill.NewWorker(be, taskmill.WorkerConfig{Handler: mux, Concurrency: 50, ReclaimInterval: -1,
		Logger: slog.New(slog.DiscardHandler), Observer: obs})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer w.Stop(context.Background())
	client := taskmill.NewClient(be, taskmill.ClientConfig{})
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Enqueue(context.Background(), "noop", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for {
		qs, err := be.Queues(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(qs) == 1 && qs[0].Counts[taskmill.StateCompleted] >= b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
