package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/server"
	"github.com/taskmill/taskmill/tasktypes"
)

func init() {
	commands["amqp"] = command{summary: "run the AMQP bridge on its own, next to the backend (for shared backends like Redis)", run: runAMQP}
}

// runAMQP runs the bridge as its own process, talking to the backend
// directly as `taskmill worker` does: for deployments where the API
// servers should hold no AMQP connection, or where one process should
// publish the events exchange. The embedded store opens in one process
// only, so with it the bridge runs inside serve (--amqp) instead.
func runAMQP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("amqp")
	backendURL := fs.String("backend", envString("TASKMILL_BACKEND", ""), backendHelp+" (env TASKMILL_BACKEND)")
	dataDir := fs.String("data", envString("TASKMILL_DATA", "./taskmill-data"), "embedded store directory (env TASKMILL_DATA)")
	maxPayload := fs.Int("max-payload", envInt("TASKMILL_MAX_PAYLOAD", taskmill.DefaultMaxPayload), "largest task payload in bytes (env TASKMILL_MAX_PAYLOAD)")
	metricsAddr := fs.String("metrics-addr", envString("TASKMILL_METRICS_ADDR", ""), "serve /metrics, /healthz and /readyz (the link is up) at this address, like 127.0.0.1:9091; empty: off (env TASKMILL_METRICS_ADDR)")
	logLevel := fs.String("log-level", envString("TASKMILL_LOG_LEVEL", "info"), "debug, info, warn or error (env TASKMILL_LOG_LEVEL)")
	logFormat := fs.String("log-format", envString("TASKMILL_LOG_FORMAT", "text"), "text or json (env TASKMILL_LOG_FORMAT)")
	link := amqpFlagSet(fs)
	taskTypes := taskTypeFlags(fs, dataDir)
	redis := redisFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "Usage: taskmill amqp --backend URL --amqp URL [--amqp-queue NAME] [--amqp-events EXCHANGE] [--metrics-addr ADDR] [flags]")
			fs.PrintDefaults()
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case link.url == "":
		return usagef("--amqp (or TASKMILL_AMQP) is required")
	case *maxPayload < 1 || *maxPayload > 64<<20:
		return usagef("--max-payload must be between 1 and %d bytes, got %d", 64<<20, *maxPayload)
	}
	if err := link.check(); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return usagef("%v", err)
	}
	rawURL, err := redis.apply(*backendURL)
	if err != nil {
		return err
	}
	b, kind, err := openBackend(ctx, rawURL, *dataDir, log)
	if err != nil {
		return fmt.Errorf("open backend: %w", err)
	}
	defer b.Close()
	// The same registry as serve's, so a message is refused here exactly
	// when POST /api/tasks would refuse it.
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, taskTypes()); err != nil {
		return err
	}
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux, RejectUnknownTypes: true, MaxPayloadBytes: *maxPayload, Logger: log})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	running, err := link.start(ctx, client, *maxPayload+64<<10, reg, nil, log)
	if err != nil {
		return err
	}
	defer running.stop()
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return usagef("--metrics-addr %s: %v", *metricsAddr, err)
		}
		srv := &http.Server{Handler: bridgeHTTP(reg, running.bridge), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("amqp bridge metrics serving", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	log.Info("taskmill amqp bridge running", "backend", kind, "backend_url", redactURL(rawURL), "amqp", amqpbridge.RedactURL(link.url), "queue", link.queue)
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// bridgeHTTP serves the bridge's metrics and probes: /readyz answers 200
// only while the link is up.
func bridgeHTTP(reg *prometheus.Registry, b *amqpbridge.Bridge) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if st := b.LinkStatus(); st.State != server.LinkUp {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"error":{"code":"link_unavailable","field":"amqp","message":"the amqp link is %s"}}`, st.State)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	return mux
}
