package taskmill_test

import (
	"context"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/metrics"
	"github.com/taskmill/taskmill/tracing"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkEmbeddedSubmitToCompleteObserved is BenchmarkEmbeddedSubmitToComplete
// with the Prometheus and OpenTelemetry observers on the worker (spans to
// an in-memory exporter, batched as in production): what the hooks cost
// when they are used. Without an observer the hook is one nil check.
func BenchmarkEmbeddedSubmitToCompleteObserved(b *testing.B) {
	tp, err := tracing.Setup(context.Background(), tracing.Config{Exporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	benchSubmitToComplete(b, taskmill.Observers(metrics.New().Observer(), tracing.Observer(tp)))
}
