package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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

// TestSetupPostsToV1Traces: an endpoint without a path is a base URL
// (docs say --otel-endpoint http://collector:4318), so spans go to
// /v1/traces; an endpoint with a path is used as it is.
func TestSetupPostsToV1Traces(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for _, c := range []struct{ endpoint, want string }{
		{srv.URL, "POST /v1/traces"},
		{srv.URL + "/", "POST /v1/traces"},
		{srv.URL + "/otlp/v1/traces", "POST /otlp/v1/traces"},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		tp, err := tracing.Setup(context.Background(), tracing.Config{Endpoint: c.endpoint, Synchronous: true})
		if err != nil || tp == nil {
			t.Fatalf("Setup(%s) = %v, %v", c.endpoint, tp, err)
		}
		_, span := tp.Tracer("test").Start(context.Background(), "work")
		span.End()
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatalf("%s: shutdown: %v", c.endpoint, err)
		}
		mu.Lock()
		if !slices.Contains(got, c.want) {
			t.Errorf("endpoint %s: the collector saw %q, want %q", c.endpoint, got, c.want)
		}
		mu.Unlock()
	}
	for _, bad := range []string{"collector:4318", "://x", "ftp://collector"} {
		if tp, err := tracing.Setup(context.Background(), tracing.Config{Endpoint: bad}); err == nil {
			tp.Shutdown(context.Background())
			t.Errorf("Setup accepted the endpoint %q", bad)
		}
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
