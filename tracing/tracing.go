// Package tracing connects taskmill to OpenTelemetry: it sets up an OTLP
// exporter, carries the W3C trace context inside each task from submit to
// every attempt, and records spans for the HTTP request that submitted a
// task, the time the task waited, and each run. One trace then shows the
// whole life of a task, across processes and across retries.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/taskmill/taskmill"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of taskmill's spans.
const ScopeName = "github.com/taskmill/taskmill"

// Config configures Setup. The zero value exports nothing.
type Config struct {
	// Endpoint is the OTLP/HTTP collector URL, such as
	// http://localhost:4318 (the standard OTEL_EXPORTER_OTLP_* variables
	// refine it). Without a path it is a base URL, as
	// OTEL_EXPORTER_OTLP_ENDPOINT is by the specification, and spans go
	// to its /v1/traces; a URL with a path is used as it is. Empty: use
	// Exporter.
	Endpoint string
	// Exporter receives the spans instead of an OTLP collector (tests use
	// tracetest.NewInMemoryExporter). Optional.
	Exporter sdktrace.SpanExporter
	// ServiceName names this process in traces. Default "taskmill".
	ServiceName string
	// SampleRatio is the share of new traces recorded, 0–1. Traces begun
	// elsewhere follow their parent's decision. Default 1.
	SampleRatio float64
	// Synchronous exports each span as it ends, for tests. Default false:
	// spans are batched.
	Synchronous bool
}

// Setup returns a TracerProvider exporting as cfg says, or nil when cfg
// names no endpoint and no exporter (tracing off). Shut it down to flush.
func Setup(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, error) {
	exp := cfg.Exporter
	if exp == nil {
		if cfg.Endpoint == "" {
			return nil, nil
		}
		u, err := tracesURL(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("otlp exporter for %s: %w", cfg.Endpoint, err)
		}
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "taskmill"
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))}
	if cfg.Synchronous {
		opts = append(opts, sdktrace.WithSyncer(exp))
	} else {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// tracesURL is the URL spans are posted to: endpoint itself when it has
// a path, its /v1/traces when it has none (otlptracehttp would post to
// "/", which no collector serves).
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("otlp endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("otlp endpoint %q: want an http:// or https:// URL like http://localhost:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

var propagator = propagation.TraceContext{}

// Inject returns a submit option that carries ctx's trace into the task,
// so its attempts join the caller's trace:
//
//	client.Enqueue(ctx, "email", p, tracing.Inject(ctx))
func Inject(ctx context.Context) taskmill.Option {
	return taskmill.Trace(Carrier(ctx))
}

// Carrier returns ctx's trace context as W3C headers (nil when ctx holds
// no span).
func Carrier(ctx context.Context) map[string]string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	if len(c) == 0 {
		return nil
	}
	return c
}

// Extract returns ctx carrying the remote span a task's trace context names.
func Extract(ctx context.Context, tc map[string]string) context.Context {
	if len(tc) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(tc))
}

// Observer returns a taskmill.Observer that records, for each attempt, a
// "taskmill.wait" span (from the submit, or the previous attempt's end,
// to the start) and a "taskmill.run <type>" span around the handler, both
// in the trace of the submit. The handler's context carries the run span,
// so spans the handler starts nest under it.
func Observer(tp trace.TracerProvider) taskmill.Observer {
	return &observer{tracer: tp.Tracer(ScopeName)}
}

type observer struct{ tracer trace.Tracer }

func (o *observer) AttemptStarted(ctx context.Context, t *taskmill.TaskInfo) context.Context {
	return StartRun(ctx, o.tracer, t)
}

func (o *observer) AttemptFinished(ctx context.Context, t *taskmill.TaskInfo, r taskmill.AttemptResult) {
	EndRun(trace.SpanFromContext(ctx), r.Outcome, r.Err, time.Now())
}

func (o *observer) LeasesReclaimed(int) {}

// StartRun records the wait span of attempt t and starts its run span,
// both children of the task's trace context; it returns ctx with the run
// span. The Observer uses it for the attempts of Go workers; the server
// records those of HTTP workers after the fact with RecordAttempt.
func StartRun(ctx context.Context, tracer trace.Tracer, t *taskmill.TaskInfo) context.Context {
	return startRunAt(ctx, tracer, t, time.Now())
}

func startRunAt(ctx context.Context, tracer trace.Tracer, t *taskmill.TaskInfo, start time.Time) context.Context {
	parent := Extract(ctx, t.TraceContext)
	attrs := []attribute.KeyValue{
		attribute.String("taskmill.task.id", t.ID), attribute.String("taskmill.task.type", t.Type),
		attribute.String("taskmill.queue", t.Queue), attribute.Int("taskmill.attempt", t.Attempt),
		attribute.String("taskmill.worker.id", t.WorkerID),
	}
	if waitFrom := waitStart(t); !waitFrom.IsZero() && !t.StartedAt.IsZero() && waitFrom.Before(t.StartedAt) {
		_, wait := tracer.Start(parent, "taskmill.wait", trace.WithTimestamp(waitFrom), trace.WithAttributes(attrs...))
		wait.End(trace.WithTimestamp(t.StartedAt))
	}
	ctx, _ = tracer.Start(parent, "taskmill.run "+t.Type, trace.WithTimestamp(start),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	return ctx
}

// waitStart is when the attempt began to wait: the previous attempt's end
// for a retry, the submit otherwise.
func waitStart(t *taskmill.TaskInfo) time.Time {
	if n := len(t.Attempts); n >= 2 && !t.Attempts[n-2].FinishedAt.IsZero() {
		return t.Attempts[n-2].FinishedAt
	}
	return t.CreatedAt
}

// EndRun ends a run span with the attempt's outcome.
func EndRun(span trace.Span, o taskmill.Outcome, err error, at time.Time) {
	span.SetAttributes(attribute.String("taskmill.outcome", string(o)))
	switch o {
	case taskmill.OutcomeCompleted:
		span.SetStatus(codes.Ok, "")
	case taskmill.OutcomeRetrying, taskmill.OutcomeFailed:
		if err == nil {
			err = errors.New(string(o))
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(at))
}

// RecordAttempt records the spans of an attempt that ran elsewhere (an
// HTTP worker), after the fact: the wait, and a run from t.StartedAt to end.
func RecordAttempt(ctx context.Context, tracer trace.Tracer, t *taskmill.TaskInfo, o taskmill.Outcome, err error, end time.Time) {
	start := t.StartedAt
	if start.IsZero() {
		start = end
	}
	runCtx := startRunAt(ctx, tracer, t, start)
	EndRun(trace.SpanFromContext(runCtx), o, err, end)
}
