package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/taskmill/taskmill"
)

// workerTelemetry gives `taskmill worker` the same metrics and tracing as
// serve: --metrics-addr serves /metrics, /healthz and /readyz on an address
// of its own, --otel-endpoint exports spans. The worker command calls
// workerTelemetryFlags when it defines its flags and start after parsing,
// and sets WorkerConfig.Observer to what start returns. It has no
// --metrics or --public-metrics: --metrics-addr alone turns metrics on,
// and that address has no API keys to open.
type workerTelemetry struct {
	flags *telemetryFlags
	addr  string
	// ready is what /readyz asks; nil until the backend is open, and
	// /readyz answers 503 until then.
	ready atomic.Pointer[func(context.Context) error]
}

// setReady gives /readyz its check, once the worker's backend is open.
func (w *workerTelemetry) setReady(check func(context.Context) error) { w.ready.Store(&check) }

// readyz answers 200 when the backend answers a ping within 2 s, 503
// otherwise (and before the backend is open): a probe for orchestrators.
func (w *workerTelemetry) readyz(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	check := w.ready.Load()
	if check == nil {
		rw.WriteHeader(http.StatusServiceUnavailable)
		_, _ = rw.Write([]byte(`{"status":"starting"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := (*check)(ctx); err != nil {
		rw.WriteHeader(http.StatusServiceUnavailable)
		_, _ = rw.Write([]byte(`{"status":"backend_unavailable"}`))
		return
	}
	_, _ = rw.Write([]byte(`{"status":"ready"}`))
}

func workerTelemetryFlags(fs *flag.FlagSet) *workerTelemetry {
	w := &workerTelemetry{flags: &telemetryFlags{}}
	w.flags.tracingFlags(fs)
	fs.StringVar(&w.addr, "metrics-addr", envString("TASKMILL_METRICS_ADDR", ""), "serve Prometheus metrics of this worker at http://ADDR/metrics, like 127.0.0.1:9090; empty: off (env TASKMILL_METRICS_ADDR)")
	return w
}

// start sets up what the flags ask for and returns the worker's observer
// (nil when all is off) and a stop function that flushes and closes.
func (w *workerTelemetry) start(ctx context.Context, log *slog.Logger) (taskmill.Observer, func(), error) {
	w.flags.metrics = w.addr != ""
	tel, err := w.flags.start(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	var srv *http.Server
	if w.addr != "" {
		ln, err := net.Listen("tcp", w.addr)
		if err != nil {
			tel.shutdown()
			return nil, nil, usagef("--metrics-addr %s: %v", w.addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", tel.metrics.Handler())
		mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte(`{"status":"ok"}`)) })
		mux.HandleFunc("GET /readyz", w.readyz)
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics server stopped", "err", err)
			}
		}()
		log.Info("worker metrics serving", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	stop := func() {
		if srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}
		tel.shutdown()
	}
	return tel.observer(), stop, nil
}
