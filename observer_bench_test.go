package taskmill_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/metrics"
	"github.com/taskmill/taskmill/tracing"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkEmbeddedSubmitToCompleteObserved is BenchmarkEmbeddedSubmitToComplete
// with the Prometheus and OpenTelemetry observers on the worker (spans to
// an in-memory exporter, batched as in production): what the hooks cost
// when they are used. Without an observer the hook is one nil check.
func BenchmarkEmbeddedSubmitToCompleteObserved(b *testing.B) {
	be, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	tp, err := tracing.Setup(context.Background(), tracing.Config{Exporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	var done atomic.Int64
	mux := taskmill.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *taskmill.Task) (any, error) {
		done.Add(1)
		return nil, nil
	})
	obs := taskmill.Observers(metrics.New().Observer(), tracing.Observer(tp))
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
	for done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
