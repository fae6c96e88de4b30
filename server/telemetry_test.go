package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/metrics"
	"github.com/taskmill/taskmill/server"
	"github.com/taskmill/taskmill/tracing"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func scrape(t *testing.T, e *env) string {
	t.Helper()
	var raw []byte
	status, _ := e.do("GET", "/metrics", nil, (*rawBody)(&raw))
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	return string(raw)
}

func TestMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t))
		ok := e.submit(map[string]any{"type": "square", "queue": "math", "payload": map[string]any{"n": 3}})
		bad := e.submit(map[string]any{"type": "fail", "max_attempts": 2})
		e.submit(map[string]any{"type": "echo", "queue": "parked", "delay": "1h"})
		e.waitState(ok.ID, backend.StateCompleted)
		e.waitState(bad.ID, backend.StateFailed)
		// An HTTP worker's attempt counts too.
		e.submit(map[string]any{"type": "resize", "queue": "ext"})
		var lr apiclient.LeaseReply
		e.wantStatus(200, "POST", "/api/workers/ext/lease", map[string]any{"queues": []string{"ext"}}, &lr)
		e.wantStatus(200, "POST", "/api/tasks/"+lr.Tasks[0].ID+"/ack", map[string]any{"token": lr.Tasks[0].LeaseToken}, nil)

		text := scrape(t, e)
		for _, want := range []string{
			`taskmill_tasks_submitted_total{queue="math",type="square"} 1`,
			`taskmill_tasks_submitted_total{queue="default",type="fail"} 1`,
			`taskmill_tasks_completed_total{queue="math",type="square"} 1`,
			`taskmill_tasks_completed_total{queue="ext",type="resize"} 1`,
			`taskmill_tasks_retried_total{queue="default",type="fail"} 1`,
			`taskmill_tasks_failed_total{queue="default",type="fail"} 1`,
			`taskmill_task_duration_seconds_count{outcome="completed",queue="math",type="square"} 1`,
			`taskmill_queue_tasks{queue="parked",state="scheduled"} 1`,
			`taskmill_queue_paused{queue="math"} 0`,
			// From the backend's history: every attempt, whichever process ran it.
			`taskmill_queue_attempts_recent{outcome="completed",queue="math"} 1`,
			`taskmill_queue_attempts_recent{outcome="completed",queue="ext"} 1`,
			`taskmill_queue_attempts_recent{outcome="failed",queue="default"} 2`,
			`taskmill_queue_attempts_recent{outcome="failed",queue="parked"} 0`,
			`taskmill_workers_alive 1`,
			`taskmill_worker_slots{state="total"} 4`,
			`taskmill_backend_up 1`,
			`taskmill_http_requests_total{code="201",route="POST /api/tasks"} 4`,
			`taskmill_leases_reclaimed_total 0`,
		} {
			if !strings.Contains(text, want+"\n") {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestReclaimCounted: a lease whose worker died is reclaimed by the upkeep
// leader, observed by the metrics, and counted.
func TestReclaimCounted(t *testing.T) {
	b := backendKinds[0].open(t)
	e := newEnv(t, b, withoutWorker())
	task := e.submit(map[string]any{"type": "echo", "queue": "ext"})
	var lr apiclient.LeaseReply
	e.wantStatus(200, "POST", "/api/workers/doomed/lease", map[string]any{"queues": []string{"ext"}, "lease_for": "1s"}, &lr)
	up := taskmill.StartUpkeep(context.Background(), b, taskmill.UpkeepConfig{ReclaimInterval: 50 * time.Millisecond,
		Observer: e.metrics.Observer(), Logger: quietLogger()})
	defer up.Stop()
	e.waitState(task.ID, backend.StatePending)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(scrape(t, e), "taskmill_leases_reclaimed_total 1\n") {
		if time.Now().After(deadline) {
			t.Fatal("the reclaim was not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTraceFollowsTheTask: one trace holds the client's span, the submit
// request, the wait and every attempt's run, for Go and HTTP workers.
func TestTraceFollowsTheTask(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := tracing.Setup(context.Background(), tracing.Config{Exporter: exp, Synchronous: true, ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	b := backendKinds[0].open(t)
	e := newEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) { c.Tracer = tp }))
	w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: testMux(), Concurrency: 1, LeaseDuration: 3 * time.Second,
		Logger: quietLogger(), Observer: taskmill.Observers(metrics.New().Observer(), tracing.Observer(tp))})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())

	// The caller's own span, sent as a traceparent header.
	ctx, client := tp.Tracer("test-client").Start(context.Background(), "client")
	header := http.Header{}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(header))
	submit := func(body string) string {
		req, _ := http.NewRequest("POST", e.URL+"/api/tasks", strings.NewReader(body))
		req.Header = header.Clone()
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			t.Fatalf("submit = %d %s", resp.StatusCode, raw)
		}
		var task apiclient.Task
		mustJSON(t, raw, &task)
		if task.TraceContext["traceparent"] == "" {
			t.Fatalf("the stored task carries no trace context: %+v", task)
		}
		return task.ID
	}
	failing := submit(`{"type":"fail","max_attempts":2}`)
	e.waitState(failing, backend.StateFailed)
	client.End()
	traceID := client.SpanContext().TraceID()

	// The worker ends an attempt's span just after it records the outcome,
	// so the last span may land a moment after the task shows as failed.
	var spans tracetest.SpanStubs
	var byName map[string][]tracetest.SpanStub
	for deadline := time.Now().Add(10 * time.Second); ; {
		spans = exp.GetSpans()
		byName = map[string][]tracetest.SpanStub{}
		for _, s := range spans {
			if s.SpanContext.TraceID() == traceID {
				byName[s.Name] = append(byName[s.Name], s)
			}
		}
		if len(byName["taskmill.run fail"]) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	httpSpans := byName["POST /api/tasks"]
	if len(httpSpans) != 1 || httpSpans[0].Parent.SpanID() != client.SpanContext().SpanID() || httpSpans[0].SpanKind != trace.SpanKindServer {
		t.Fatalf("submit request spans in the trace: %+v", httpSpans)
	}
	runs := byName["taskmill.run fail"]
	waits := byName["taskmill.wait"]
	if len(runs) != 2 || len(waits) != 2 {
		t.Fatalf("want 2 runs and 2 waits in the trace, got %d and %d (all: %v)", len(runs), len(waits), names(spans))
	}
	for _, s := range append(runs, waits...) {
		if s.Parent.SpanID() != httpSpans[0].SpanContext.SpanID() {
			t.Fatalf("%s is not a child of the submit request", s.Name)
		}
	}
	if runs[0].Status.Code.String() != "Error" || !waits[0].EndTime.After(waits[0].StartTime) {
		t.Fatalf("run status %v, wait %v–%v", runs[0].Status, waits[0].StartTime, waits[0].EndTime)
	}

	// An HTTP worker's attempt is recorded when it acks, in the same trace.
	exp.Reset()
	ctx2, client2 := tp.Tracer("test-client").Start(context.Background(), "client2")
	header = http.Header{}
	propagation.TraceContext{}.Inject(ctx2, propagation.HeaderCarrier(header))
	id := submit(`{"type":"resize","queue":"ext"}`)
	var lr apiclient.LeaseReply
	e.wantStatus(200, "POST", "/api/workers/ext/lease", map[string]any{"queues": []string{"ext"}}, &lr)
	e.wantStatus(200, "POST", "/api/tasks/"+id+"/ack", map[string]any{"token": lr.Tasks[0].LeaseToken}, nil)
	client2.End()
	found := false
	for _, s := range exp.GetSpans() {
		if s.Name == "taskmill.run resize" && s.SpanContext.TraceID() == client2.SpanContext().TraceID() {
			found = s.Status.Code.String() == "Ok"
		}
	}
	if !found {
		t.Fatalf("no successful run span of the HTTP worker in the trace: %v", names(exp.GetSpans()))
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
