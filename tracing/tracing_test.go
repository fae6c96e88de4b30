package tracing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/tracing"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestSetupOffWithoutEndpoint(t *testing.T) {
	tp, err := tracing.Setup(context.Background(), tracing.Config{})
	if err != nil || tp != nil {
		t.Fatalf("Setup with nothing configured = %v, %v; want tracing off", tp, err)
	}
}

// TestObserverJoinsTheSubmitTrace: the trace context a submit stored in
// the task makes the wait and run spans children of the submitting span,
// and a retry's wait starts where the previous attempt ended.
func TestObserverJoinsTheSubmitTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := tracing.Setup(context.Background(), tracing.Config{Exporter: exp, Synchronous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	ctx, submit := tp.Tracer("test").Start(context.Background(), "submit")
	var req taskmill.TaskRequest
	tracing.Inject(ctx)(&req)
	if req.TraceContext["traceparent"] == "" {
		t.Fatal("Inject put no traceparent in the request")
	}
	submit.End()

	now := time.Now().UTC()
	task := &taskmill.TaskInfo{ID: "t1", Type: "mail", Queue: "q", Attempt: 2, WorkerID: "w", TraceContext: req.TraceContext,
		CreatedAt: now.Add(-3 * time.Second), StartedAt: now,
		Attempts: []backend.Attempt{{Number: 1, StartedAt: now.Add(-2 * time.Second), FinishedAt: now.Add(-time.Second)}, {Number: 2, StartedAt: now}}}
	obs := tracing.Observer(tp)
	runCtx := obs.AttemptStarted(context.Background(), task)
	obs.AttemptFinished(runCtx, task, taskmill.AttemptResult{Outcome: taskmill.OutcomeRetrying, Err: errors.New("smtp down")})

	spans := exp.GetSpans()
	var wait, run *tracetest.SpanStub
	for i := range spans {
		switch spans[i].Name {
		case "taskmill.wait":
			wait = &spans[i]
		case "taskmill.run mail":
			run = &spans[i]
		}
	}
	if wait == nil || run == nil {
		t.Fatalf("spans: %+v", spans)
	}
	for _, s := range []*tracetest.SpanStub{wait, run} {
		if s.SpanContext.TraceID() != submit.SpanContext().TraceID() || s.Parent.SpanID() != submit.SpanContext().SpanID() {
			t.Fatalf("%s is not a child of the submit span", s.Name)
		}
	}
	if !wait.StartTime.Equal(now.Add(-time.Second)) || !wait.EndTime.Equal(now) {
		t.Fatalf("retry wait = %v–%v, want from the previous attempt's end to the start", wait.StartTime, wait.EndTime)
	}
	if run.Status.Code != codes.Error || run.Status.Description != "smtp down" {
		t.Fatalf("run status = %+v", run.Status)
	}
}
