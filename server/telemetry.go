package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// instrument wraps a route's handler with its server span (when tracing
// is on) and its request metrics (when metrics are on). Labels use the
// route pattern, never the raw path, so their number stays bounded.
func (s *Server) instrument(rt route, h http.HandlerFunc) http.HandlerFunc {
	name := rt.method + " " + rt.pattern
	if s.tracer == nil && s.cfg.Metrics == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		var span trace.Span
		if s.tracer != nil {
			ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span = s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", rt.pattern),
					attribute.String("url.path", r.URL.Path)))
			r = r.WithContext(ctx)
		}
		h(rec, r)
		if span != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
			span.End()
		}
		s.cfg.Metrics.HTTPRequest(name, rec.status, time.Since(start))
	}
}

// statusRecorder remembers the status a handler wrote. It lets the
// WebSocket take over the connection (Hijack) and passes Flush through.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	if !r.wrote {
		r.status, r.wrote = http.StatusSwitchingProtocols, true
	}
	return hj.Hijack()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// attemptDone records an HTTP worker's finished attempt: its metrics, and
// (when tracing is on) its wait and run spans in the task's trace.
func (s *Server) attemptDone(ctx context.Context, t *backend.Task, o taskmill.Outcome, err error) {
	now := time.Now()
	var d time.Duration
	if !t.StartedAt.IsZero() {
		d = now.Sub(t.StartedAt)
	}
	s.cfg.Metrics.AttemptFinished(t.Type, t.Queue, o, d)
	if s.tracer != nil {
		tracing.RecordAttempt(ctx, s.tracer, t, o, err, now)
	}
}

// GET /metrics
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "metrics are off on this server"})
		return
	}
	s.cfg.Metrics.Handler().ServeHTTP(w, r)
}
