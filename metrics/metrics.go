// Package metrics exposes taskmill to Prometheus: counters of submitted,
// completed, failed and retried tasks per type and queue, attempt
// duration histograms, reclaimed leases, HTTP request metrics, and gauges
// read from the backend at scrape time (queue depth per state, the wait of
// the oldest pending task, paused queues, attempts finished per queue in
// the last few minutes, live workers and their slots).
//
// Counters are per process, as Prometheus expects: a server counts the
// submits it accepted and the attempts its in-process workers and HTTP
// workers finished; a `taskmill worker` counts its own. Sum them across
// instances. The backend gauges describe the shared store, so every
// server reports the same values: take max, not sum. They are what a
// server with no workers of its own (serve --workers 0) can say about the
// outcomes of workers elsewhere.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// Metrics holds one process's collectors. Its methods are safe for
// concurrent use, and safe to call on a nil *Metrics (they do nothing),
// so code paths need no "metrics enabled?" checks.
type Metrics struct {
	reg *prometheus.Registry

	submitted *prometheus.CounterVec
	completed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	lost      *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	reclaimed prometheus.Counter

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
}

// DurationBuckets are the bounds of the attempt duration histogram, in
// seconds: from a millisecond to an hour.
var DurationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// New returns Metrics registered in a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tq := []string{"type", "queue"}
	m := &Metrics{reg: reg,
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_tasks_submitted_total",
			Help: "Tasks stored by submits this process accepted."}, tq),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_tasks_completed_total",
			Help: "Tasks completed by workers of this process (Go or HTTP)."}, tq),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_tasks_failed_total",
			Help: "Tasks that failed for good (into the dead-letter queue) in workers of this process."}, tq),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_tasks_retried_total",
			Help: "Failed attempts that will be retried after a backoff."}, tq),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_task_attempts_dropped_total",
			Help: "Attempts whose result was dropped: lease lost (canceled, reclaimed) or handed back on shutdown."}, []string{"type", "queue", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskmill_task_duration_seconds",
			Help: "How long handlers ran, per outcome.", Buckets: DurationBuckets}, []string{"type", "queue", "outcome"}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskmill_leases_reclaimed_total",
			Help: "Expired leases of dead workers this process returned to pending (or failed)."}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_http_requests_total",
			Help: "HTTP requests answered, per route and status code."}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskmill_http_request_duration_seconds",
			Help: "HTTP request latency per route (WebSockets and long polls included).", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	reg.MustRegister(m.submitted, m.completed, m.failed, m.retried, m.lost, m.duration, m.reclaimed, m.httpRequests, m.httpDuration)
	return m
}

// Registry returns the registry, to add collectors of your own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil, Registry: m.reg})
}

// TaskSubmitted counts one stored task.
func (m *Metrics) TaskSubmitted(typ, queue string) {
	if m == nil {
		return
	}
	m.submitted.WithLabelValues(typ, queue).Inc()
}

// AttemptFinished counts one finished attempt and its duration.
func (m *Metrics) AttemptFinished(typ, queue string, o taskmill.Outcome, d time.Duration) {
	if m == nil {
		return
	}
	switch o {
	case taskmill.OutcomeCompleted:
		m.completed.WithLabelValues(typ, queue).Inc()
	case taskmill.OutcomeFailed:
		m.failed.WithLabelValues(typ, queue).Inc()
	case taskmill.OutcomeRetrying:
		m.retried.WithLabelValues(typ, queue).Inc()
	default:
		m.lost.WithLabelValues(typ, queue, string(o)).Inc()
	}
	m.duration.WithLabelValues(typ, queue, string(o)).Observe(d.Seconds())
}

// LeasesReclaimed counts reclaimed leases.
func (m *Metrics) LeasesReclaimed(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.reclaimed.Add(float64(n))
}

// HTTPRequest counts one answered request. route is the route pattern
// ("GET /api/tasks/{id}"), never the raw path, to bound the label values.
func (m *Metrics) HTTPRequest(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, statusLabel(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

func statusLabel(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// Observer returns a taskmill.Observer that counts a Worker's attempts
// and reclaimed leases into m.
func (m *Metrics) Observer() taskmill.Observer { return workerObserver{m} }

type workerObserver struct{ m *Metrics }

func (o workerObserver) AttemptStarted(ctx context.Context, _ *taskmill.TaskInfo) context.Context {
	return ctx
}

func (o workerObserver) AttemptFinished(_ context.Context, t *taskmill.TaskInfo, r taskmill.AttemptResult) {
	o.m.AttemptFinished(t.Type, t.Queue, r.Outcome, r.Duration)
}

func (o workerObserver) LeasesReclaimed(n int) { o.m.LeasesReclaimed(n) }

// WatchBackend adds gauges read from b at every scrape (bounded by
// timeout): tasks per queue and state, the oldest pending task's wait,
// paused queues, live workers, and their total and busy slots.
func (m *Metrics) WatchBackend(b backend.Backend, timeout time.Duration) {
	m.reg.MustRegister(&backendCollector{b: b, timeout: timeout})
}
