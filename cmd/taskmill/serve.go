package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/server"
	"github.com/taskmill/taskmill/tasktypes"
	"github.com/taskmill/taskmill/web"
)

func init() {
	commands["serve"] = command{summary: "run the API server, dashboard and (by default) in-process workers", run: runServe}
}

// serveConfig is everything `taskmill serve` is told by flags and env.
type serveConfig struct {
	addr, dataDir, backendURL string
	workers                   int
	worker                    *workerFlags
	maxPayload                int
	maxBody                   int64
	maxBatch                  int
	maxLocalSlots             int
	maxUpload                 int64
	taskTypes                 func() tasktypes.Config
	access                    *accessFlags
	telemetry                 *telemetryFlags
	schedules                 *scheduleFlags
	redis                     *redisSettings
	postgres                  *postgresSettings
	retention                 *taskmill.Retention
	upkeep                    *upkeepFlags
	allowedHosts              *envStringList
	maxConns                  int
	bodyTimeout               time.Duration
	backendTimeout            time.Duration
	amqp                      *amqpFlags
}

func parseServeFlags(args []string, stdout io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("serve")
	fs.StringVar(&c.addr, "addr", envString("TASKMILL_ADDR", "127.0.0.1:8080"), "listen address; a non-loopback one needs --api-key or --insecure (env TASKMILL_ADDR)")
	fs.StringVar(&c.dataDir, "data", envString("TASKMILL_DATA", "./taskmill-data"), "data directory of the embedded store and of files tasks read (env TASKMILL_DATA)")
	fs.StringVar(&c.backendURL, "backend", envString("TASKMILL_BACKEND", ""), backendHelp+" (env TASKMILL_BACKEND)")
	fs.IntVar(&c.workers, "workers", envInt("TASKMILL_WORKERS", min(runtime.NumCPU(), maxLocalConcurrency)), "in-process worker slots; 0 for none (env TASKMILL_WORKERS)")
	c.worker = workerFlagSet(fs)
	fs.IntVar(&c.maxPayload, "max-payload", envInt("TASKMILL_MAX_PAYLOAD", taskmill.DefaultMaxPayload), "largest task payload in bytes (env TASKMILL_MAX_PAYLOAD)")
	fs.Int64Var(&c.maxBody, "max-body", int64(envInt("TASKMILL_MAX_BODY", 0)), "largest request body in bytes; 0 for --max-payload + 64 KiB (env TASKMILL_MAX_BODY)")
	fs.IntVar(&c.maxBatch, "max-batch", envInt("TASKMILL_MAX_BATCH", 1000), "most tasks in one POST /api/tasks/batch (env TASKMILL_MAX_BATCH)")
	fs.IntVar(&c.maxLocalSlots, "max-local-slots", envInt("TASKMILL_MAX_LOCAL_SLOTS", 256), "most in-process worker slots POST /api/workers may start (env TASKMILL_MAX_LOCAL_SLOTS)")
	fs.Int64Var(&c.maxUpload, "max-upload-bytes", envInt64("TASKMILL_MAX_UPLOAD_BYTES", server.DefaultMaxUploadBytes), "largest file one upload into the files folder may be (PUT /api/files, taskmill files put) (env TASKMILL_MAX_UPLOAD_BYTES)")
	c.taskTypes = taskTypeFlags(fs, &c.dataDir)
	c.access = accessFlagSet(fs)
	c.telemetry = telemetryFlagSet(fs)
	c.schedules = scheduleFlagSet(fs)
	c.redis = redisFlags(fs)
	c.postgres = postgresFlags(fs)
	c.retention = retentionFlagSet(fs)
	c.upkeep = upkeepFlagSet(fs)
	c.allowedHosts = envList("TASKMILL_ALLOWED_HOSTS")
	fs.Var(c.allowedHosts, "allowed-hosts", "public names the server is reached by, HOST or HOST:PORT, comma-separated or repeated, or * for any; needed behind a proxy or a DNS name, since other Host headers are refused (421) to keep DNS-rebinding pages out. The address a connection reached and, on loopback, localhost names always pass (env TASKMILL_ALLOWED_HOSTS)")
	fs.IntVar(&c.maxConns, "max-conns", envInt("TASKMILL_MAX_CONNS", 0), "most client connections open at once; more wait to be accepted. 0 for 3/4 of the open-file limit, at most 4096 (env TASKMILL_MAX_CONNS)")
	fs.DurationVar(&c.bodyTimeout, "body-timeout", envDuration("TASKMILL_BODY_TIMEOUT", 30*time.Second), "longest time to read a request body (env TASKMILL_BODY_TIMEOUT)")
	fs.DurationVar(&c.backendTimeout, "backend-timeout", envDuration("TASKMILL_BACKEND_TIMEOUT", 2*time.Second), "longest time a request waits for the backend before answering 503 unavailable (env TASKMILL_BACKEND_TIMEOUT)")
	c.amqp = amqpFlagSet(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: taskmill serve [flags]   (every flag also reads the TASKMILL_* variable it names)")
			fmt.Fprintln(stdout, "\nRuns the API, the dashboard and in-process workers over the embedded store in --data, or over --backend.")
			fmt.Fprintln(stdout, "e.g.  taskmill serve --addr 127.0.0.1:8080 --data ./taskmill-data --workers 4")
			printGroupedFlags(stdout, fs, serveWorkerGroups)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := c.worker.check(); err != nil {
		return nil, err
	}
	switch {
	case c.workers < 0 || c.workers > maxLocalConcurrency:
		// The in-process workers start as one worker of this many slots.
		return nil, usagef("--workers must be between 0 and %d, got %d", maxLocalConcurrency, c.workers)
	case c.maxPayload < 1 || c.maxPayload > 64<<20:
		return nil, usagef("--max-payload must be between 1 and %d bytes, got %d", 64<<20, c.maxPayload)
	case c.maxBody != 0 && (c.maxBody < 1024 || c.maxBody > 256<<20):
		return nil, usagef("--max-body must be between 1024 and %d bytes, got %d", 256<<20, c.maxBody)
	case c.maxBatch < 1 || c.maxBatch > 100_000:
		return nil, usagef("--max-batch must be between 1 and 100000, got %d", c.maxBatch)
	case c.maxUpload < 1 || c.maxUpload > 64<<30:
		return nil, usagef("--max-upload-bytes must be between 1 and %d, got %d", int64(64<<30), c.maxUpload)
	case c.maxConns < 0 || c.maxConns > 1<<20:
		return nil, usagef("--max-conns must be between 0 and %d, got %d", 1<<20, c.maxConns)
	case c.bodyTimeout < time.Second || c.bodyTimeout > time.Hour:
		return nil, usagef("--body-timeout must be between 1s and 1h, got %s", c.bodyTimeout)
	case c.backendTimeout < 100*time.Millisecond || c.backendTimeout > 5*time.Minute:
		return nil, usagef("--backend-timeout must be between 100ms and 5m, got %s", c.backendTimeout)
	case c.maxLocalSlots < c.workers:
		return nil, usagef("--max-local-slots (%d) must be at least --workers (%d)", c.maxLocalSlots, c.workers)
	}
	if err := checkRetention(c.retention); err != nil {
		return nil, err
	}
	if err := c.upkeep.check(); err != nil {
		return nil, err
	}
	for _, h := range c.allowedHosts.stringList {
		if err := server.ValidateAllowedHost(h); err != nil {
			return nil, usagef("--allowed-hosts: %v", err)
		}
	}
	if c.maxConns == 0 {
		c.maxConns = server.DefaultMaxConns()
	}
	if err := c.amqp.check(); err != nil {
		return nil, err
	}
	if c.maxBody == 0 {
		c.maxBody = int64(c.maxPayload) + 64<<10
	}
	if err := c.access.check(c.addr); err != nil {
		return nil, err
	}
	return c, nil
}

// runServe runs the manager until ctx ends: the HTTP API and dashboard,
// the reclaimer of expired leases, and the in-process workers.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServeFlags(args, stdout)
	if err != nil {
		return err
	}
	log, err := c.worker.logger(stderr)
	if err != nil {
		return err
	}
	base := c.worker.config(log)

	rawURL, err := c.redis.apply(c.backendURL)
	if err != nil {
		return err
	}
	if rawURL, err = c.postgres.apply(rawURL); err != nil {
		return err
	}
	target, err := parseBackend(rawURL, c.dataDir, log)
	if err != nil {
		return err
	}
	places, err := locateData(target, c.dataDir, c.taskTypes().DataDir)
	if err != nil {
		target.close()
		return err
	}
	b, err := target.open(ctx, log)
	if err != nil {
		return fmt.Errorf("open backend: %w", err)
	}
	defer b.Close()
	kind := target.kind
	places.log(log)

	tel, err := c.telemetry.start(ctx, log)
	if err != nil {
		return err
	}
	defer tel.shutdown()
	if tel.metrics != nil {
		tel.metrics.WatchBackend(b, 2*time.Second)
	}
	// The in-process workers leave upkeep to the process's candidate below.
	base.ReclaimInterval = -1
	base.Observer = tel.observer()

	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, c.taskTypes()); err != nil {
		return err
	}
	base.Handler = mux
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux, RejectUnknownTypes: true, MaxPayloadBytes: c.maxPayload, Logger: log})
	local := newLocalWorkers(b, base, c.maxLocalSlots, log)
	sched, err := c.schedules.load(client, log)
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	var submitted func(typ, queue string)
	if tel.metrics != nil {
		reg, submitted = tel.metrics.Registry(), tel.metrics.TaskSubmitted
	}
	amqpLink, err := c.amqp.start(ctx, client, int(c.maxBody), reg, submitted, log)
	if err != nil {
		return err
	}
	// Stopped before the backend closes (deferred earlier, so run later);
	// on a clean shutdown, sooner, with the workers.
	defer amqpLink.stop()
	api, err := server.New(server.Config{
		Client: client, Types: mux, Workers: local, UI: web.Dist(), Logger: log, BackendName: kind,
		APIKeys: c.access.keys, CORSOrigins: c.access.corsOrigins, MaxBodyBytes: c.maxBody, MaxBatch: c.maxBatch,
		Metrics: tel.metrics, PublicMetrics: c.telemetry.publicMetrics, Tracer: tel.tracerProvider(),
		Schedules: sched.Status, Build: server.BuildInfo(identity()),
		DataDir: places.dataDir, FilesDir: places.filesDir, MaxUploadBytes: c.maxUpload,
		AllowedHosts: c.allowedHosts.stringList, BodyReadTimeout: c.bodyTimeout, BackendTimeout: c.backendTimeout, Links: amqpLink.links(),
	})
	if err != nil {
		return usagef("%v", err)
	}
	defer api.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	ln = server.LimitListener(ln, c.maxConns)
	httpServer := server.HTTPServer(api, log)

	// Every server and worker process is a candidate for upkeep
	// leadership; the elected one reclaims, promotes, purges and fires the
	// schedules, so a server with no workers still recovers the tasks of
	// workers that died.
	up := taskmill.StartUpkeep(context.WithoutCancel(ctx), b, taskmill.UpkeepConfig{LeaderTTL: taskmill.LeaderTTLFor(c.worker.leaseDuration),
		Retention: *c.retention, ForgetQueuesAfter: c.upkeep.forgetQueuesAfter, Scheduler: sched,
		Observer: base.Observer, Logger: log})
	stopBackground := up.Stop

	if c.workers > 0 {
		if _, err := local.StartWorker(ctx, c.workers, nil); err != nil {
			stopBackground()
			return fmt.Errorf("start in-process workers: %w", err)
		}
	}

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	log.Info("taskmill serving", "url", "http://"+ln.Addr().String(), "backend", kind, "workers", c.workers,
		"api_keys", len(c.access.keys), "metrics", tel.metrics != nil, "tracing", tel.provider != nil,
		"amqp", amqpbridge.RedactURL(c.amqp.url))

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-served:
		log.Error("http server stopped", "err", err)
	}
	// Stop taking requests, then drain the workers, then close the store.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.worker.shutdownTimeout+5*time.Second)
	defer cancel()
	api.Close() // end WebSocket streams and long polls, which Shutdown does not wait for
	if herr := httpServer.Shutdown(shutdownCtx); herr != nil {
		log.Warn("http shutdown", "err", herr)
	}
	// Submits still in flight on the AMQP link are not acknowledged: the
	// broker hands them to the next consumer, which finds any stored one
	// by its id.
	amqpLink.stop()
	wctx, wcancel := context.WithTimeout(context.Background(), c.worker.shutdownTimeout)
	defer wcancel()
	if werr := local.stopAll(wctx); werr != nil {
		log.Warn("stop in-process workers", "err", werr)
	}
	stopBackground()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
