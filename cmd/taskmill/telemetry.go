package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/metrics"
	"github.com/taskmill/taskmill/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// telemetryFlags are the metrics and tracing flags of serve and worker.
type telemetryFlags struct {
	metrics       bool
	publicMetrics bool
	otelEndpoint  string
	serviceName   string
	sampleRatio   float64
}

// telemetryFlagSet adds serve's metrics and tracing flags to fs. A
// `taskmill worker` adds only the tracing ones (workerTelemetryFlags): it
// serves /metrics on an address of its own, with no API keys to open.
func telemetryFlagSet(fs *flag.FlagSet) *telemetryFlags {
	t := &telemetryFlags{}
	fs.BoolVar(&t.metrics, "metrics", envBool("TASKMILL_METRICS", true), "serve Prometheus metrics at /metrics (env TASKMILL_METRICS)")
	fs.BoolVar(&t.publicMetrics, "public-metrics", envBool("TASKMILL_PUBLIC_METRICS", false), "serve /metrics without a token even when API keys are set (env TASKMILL_PUBLIC_METRICS=1)")
	t.tracingFlags(fs)
	return t
}

// tracingFlags adds the tracing flags, which serve and worker share.
func (t *telemetryFlags) tracingFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.otelEndpoint, "otel-endpoint", envString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", envString("OTEL_EXPORTER_OTLP_ENDPOINT", "")), "OTLP/HTTP collector URL for traces, like http://localhost:4318 (spans go to its /v1/traces; a URL with a path is used as it is); empty: tracing off (env OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.StringVar(&t.serviceName, "otel-service-name", envString("OTEL_SERVICE_NAME", "taskmill"), "service name in traces (env OTEL_SERVICE_NAME)")
	fs.Float64Var(&t.sampleRatio, "trace-sample-ratio", envFloat("TASKMILL_TRACE_SAMPLE_RATIO", 1), "share of new traces recorded, 0–1 (env TASKMILL_TRACE_SAMPLE_RATIO)")
}

// metricsOf returns m's observer, or nil when metrics are off.
func metricsOf(m *metrics.Metrics) taskmill.Observer {
	if m == nil {
		return nil
	}
	return m.Observer()
}

// telemetry is what start set up.
type telemetry struct {
	metrics  *metrics.Metrics
	provider *sdktrace.TracerProvider
	log      *slog.Logger
}

func (t *telemetryFlags) start(ctx context.Context, log *slog.Logger) (*telemetry, error) {
	tel := &telemetry{log: log}
	if t.sampleRatio < 0 || t.sampleRatio > 1 {
		return nil, usagef("--trace-sample-ratio must be between 0 and 1, got %g", t.sampleRatio)
	}
	if t.metrics {
		tel.metrics = metrics.New()
	}
	if t.otelEndpoint != "" {
		tp, err := tracing.Setup(ctx, tracing.Config{Endpoint: t.otelEndpoint, ServiceName: t.serviceName, SampleRatio: t.sampleRatio})
		if err != nil {
			return nil, usagef("--otel-endpoint: %v", err)
		}
		tel.provider = tp
	}
	return tel, nil
}

// observer returns the worker observer of the enabled telemetry, or nil.
func (tel *telemetry) observer() taskmill.Observer {
	var tr taskmill.Observer
	if tel.provider != nil {
		tr = tracing.Observer(tel.provider)
	}
	return taskmill.Observers(metricsOf(tel.metrics), tr)
}

func (tel *telemetry) tracerProvider() trace.TracerProvider {
	if tel.provider == nil {
		return nil
	}
	return tel.provider
}

// shutdown flushes the spans not yet exported.
func (tel *telemetry) shutdown() {
	if tel.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.provider.Shutdown(ctx); err != nil {
		tel.log.Warn("flush traces", "err", err)
	}
}
