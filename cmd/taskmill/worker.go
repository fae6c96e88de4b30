package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

func init() {
	commands["worker"] = command{summary: "run a worker node (worker ls | worker stop ID manage them through the server)", run: runWorker}
}

// workerConfig is everything `taskmill worker` is told by flags and env.
type workerConfig struct {
	backendURL, dataDir string
	id                  string
	concurrency         int
	worker              *workerFlags
	redis               *redisSettings
	postgres            *postgresSettings
	telemetry           *workerTelemetry
	taskTypes           func() tasktypes.Config
	// Upkeep: the worker is a candidate for upkeep leadership too, with
	// the same settings as serve.
	schedules *scheduleFlags
	retention *taskmill.Retention
	upkeep    *upkeepFlags
}

func parseWorkerFlags(args []string, stdout io.Writer) (*workerConfig, error) {
	c := &workerConfig{}
	fs := newFlagSet("worker")
	fs.StringVar(&c.backendURL, "backend", envString("TASKMILL_BACKEND", ""), backendHelp+" (env TASKMILL_BACKEND)")
	fs.StringVar(&c.dataDir, "data", envString("TASKMILL_DATA", "./taskmill-data"), "embedded store directory (only one process may open it), and the directory file tasks read (env TASKMILL_DATA)")
	fs.StringVar(&c.id, "id", envString("TASKMILL_WORKER_ID", ""), "worker id in the registry; default host-pid-random (env TASKMILL_WORKER_ID)")
	fs.IntVar(&c.concurrency, "concurrency", envInt("TASKMILL_CONCURRENCY", runtime.NumCPU()), "tasks run at once (env TASKMILL_CONCURRENCY)")
	c.worker = workerFlagSet(fs)
	c.redis = redisFlags(fs)
	c.postgres = postgresFlags(fs)
	c.telemetry = workerTelemetryFlags(fs)
	c.taskTypes = taskTypeFlags(fs, &c.dataDir)
	c.schedules = scheduleFlagSet(fs)
	c.retention = retentionFlagSet(fs)
	c.upkeep = upkeepFlagSet(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: taskmill worker --backend URL [--concurrency N] [--queues a=3,b=1 | --strict a,b] [flags]")
			fmt.Fprintln(stdout, "       taskmill worker ls | stop ID   (against --server, see 'taskmill worker ls -h')")
			fmt.Fprintln(stdout, "\nRuns the built-in task types against a shared backend (every flag also reads the TASKMILL_* variable it names).")
			fmt.Fprintln(stdout, "e.g.  taskmill worker --backend redis://localhost:6379/0 --concurrency 8")
			printGroupedFlags(stdout, fs, serveWorkerGroups)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if c.concurrency < 1 || c.concurrency > 10_000 {
		return nil, usagef("--concurrency must be between 1 and 10000, got %d", c.concurrency)
	}
	if err := c.worker.check(); err != nil {
		return nil, err
	}
	if err := checkRetention(c.retention); err != nil {
		return nil, err
	}
	if err := c.upkeep.check(); err != nil {
		return nil, err
	}
	if c.id != "" {
		if err := taskmill.ValidateName("id", c.id); err != nil {
			return nil, usagef("--id: %v", err)
		}
	}
	return c, nil
}

// runWorker runs a worker node until SIGTERM/SIGINT (ctx) or a stop
// request through the backend, then drains: it stops leasing, waits up
// to --shutdown-timeout for running tasks and hands the rest back.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "ls" || args[0] == "stop") {
		return workerAdmin(ctx, args, stdout, stderr)
	}
	c, err := parseWorkerFlags(args, stdout)
	if err != nil {
		return err
	}
	log, err := c.worker.logger(stderr)
	if err != nil {
		return err
	}
	cfg := c.worker.config(log)
	cfg.ID, cfg.Concurrency = c.id, c.concurrency
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, c.taskTypes()); err != nil {
		return err
	}
	cfg.Handler = mux
	rawURL, err := c.redis.apply(c.backendURL)
	if err != nil {
		return err
	}
	if rawURL, err = c.postgres.apply(rawURL); err != nil {
		return err
	}
	observer, stopTelemetry, err := c.telemetry.start(ctx, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	cfg.Observer = observer
	b, kind, err := openBackend(ctx, rawURL, c.dataDir, log)
	if err != nil {
		return fmt.Errorf("open backend: %w", err) // a bad URL still exits 2: Run uses errors.As
	}
	defer b.Close()
	// The process's upkeep candidate (below) does the upkeep.
	cfg.ReclaimInterval = -1
	c.telemetry.setReady(b.Ping)
	w, err := taskmill.NewWorker(b, cfg)
	if err != nil {
		return usagef("%v", err)
	}
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux, RejectUnknownTypes: true, Logger: log})
	sched, err := c.schedules.load(client, log)
	if err != nil {
		return err
	}
	up := taskmill.StartUpkeep(context.WithoutCancel(ctx), b, taskmill.UpkeepConfig{ID: w.ID(), LeaderTTL: taskmill.LeaderTTLFor(cfg.LeaseDuration),
		Retention: *c.retention, ForgetQueuesAfter: c.upkeep.forgetQueuesAfter, Scheduler: sched, Observer: observer, Logger: log})
	defer up.Stop()
	// The worker stops itself when ctx ends (a signal) or when asked
	// through the backend; either way Done closes after the drain.
	if err := w.Start(ctx); err != nil {
		return err
	}
	log.Info("taskmill worker running", "id", w.ID(), "backend", kind, "backend_url", redactURL(rawURL))
	<-w.Done()
	return w.Stop(context.Background())
}
