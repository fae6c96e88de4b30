package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/bench"
)

func init() {
	commands["bench"] = command{summary: "measure submit throughput, processing throughput or latency of a backend", run: runBench}
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	backendURL := fs.String("backend", envString("TASKMILL_BACKEND", ""), backendHelp+" (env TASKMILL_BACKEND)")
	dataDir := fs.String("data", "", "embedded store directory; default a temporary one, removed afterwards")
	mode := fs.String("mode", "process", "enqueue (submit throughput), process (drain throughput), latency (submit to handler start) or amqp-enqueue (submits over HTTP, then over AMQP)")
	amqpURL := fs.String("amqp", envString("TASKMILL_AMQP", ""), "amqp-enqueue mode: the broker (env TASKMILL_AMQP)")
	amqpPrefetch := fs.Int("amqp-prefetch", amqpbridge.DefaultPrefetch, "amqp-enqueue mode: the bridge's prefetch")
	amqpClassic := fs.Bool("amqp-classic-queue", false, "amqp-enqueue mode: a classic queue instead of a quorum queue")
	tasks := fs.Int("tasks", 100_000, "number of tasks")
	concurrency := fs.Int("concurrency", 50, "concurrent clients (enqueue) or worker slots (process, latency)")
	rate := fs.Float64("rate", 500, "latency mode: submits per second")
	payloadSize := fs.Int("payload", 64, "payload size in bytes")
	batch := fs.Int("batch", 1, "enqueue mode: tasks per batch submit (1: single submits)")
	leaseBatch := fs.Int("lease-batch", 0, "process and latency modes: the most tasks the worker leases in one call (0: the worker's default, 32)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	keep := fs.Bool("keep", false, "keep the benchmark's tasks instead of removing them afterwards")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "Usage: taskmill bench --backend URL --mode enqueue|process|latency --tasks N --concurrency C [--rate R] [--payload BYTES] [--batch B] [--lease-batch L] [--json]")
			fmt.Fprintln(stderr, "       taskmill bench --backend URL --mode amqp-enqueue --amqp URL --tasks N --concurrency PUBLISHERS")
			fs.PrintDefaults()
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *mode != "enqueue" && *mode != "process" && *mode != "latency" && *mode != "amqp-enqueue":
		return usagef("--mode must be enqueue, process, latency or amqp-enqueue, got %q", *mode)
	case *amqpPrefetch < 1 || *amqpPrefetch > 65535:
		return usagef("--amqp-prefetch must be between 1 and 65535, got %d", *amqpPrefetch)
	case *tasks < 1 || *tasks > 100_000_000:
		return usagef("--tasks must be between 1 and 100000000, got %d", *tasks)
	case *concurrency < 1 || *concurrency > 10_000:
		return usagef("--concurrency must be between 1 and 10000, got %d", *concurrency)
	case *rate <= 0 || *rate > 1_000_000:
		return usagef("--rate must be above 0 and at most 1000000, got %g", *rate)
	case *payloadSize < 16 || *payloadSize > 1<<20:
		return usagef("--payload must be between 16 and %d bytes, got %d", 1<<20, *payloadSize)
	case *batch < 1 || *batch > 10_000:
		return usagef("--batch must be between 1 and 10000, got %d", *batch)
	case *leaseBatch < 0 || *leaseBatch > 10_000:
		return usagef("--lease-batch must be between 0 and 10000, got %d", *leaseBatch)
	}
	b, usedMemory, cleanup, err := openBenchBackend(ctx, *backendURL, *dataDir, *keep)
	if err != nil {
		return err
	}
	defer cleanup()
	if *mode == "amqp-enqueue" {
		res, err := runAMQPBench(ctx, b, *amqpURL, *tasks, *concurrency, *amqpPrefetch, *payloadSize, *amqpClassic)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(res)
		}
		fmt.Fprintf(stdout, "amqp-enqueue: %d tasks from %d publishers (bridge prefetch %d)\n", res.Tasks, res.Publishers, res.Prefetch)
		fmt.Fprintf(stdout, "  HTTP POST /api/tasks: %.3fs = %.0f tasks/s\n", res.HTTPSeconds, res.HTTPPerSec)
		fmt.Fprintf(stdout, "  AMQP publish→stored:  %.3fs = %.0f tasks/s\n", res.AMQPSeconds, res.AMQPPerSec)
		return nil
	}
	cfg := bench.Config{Backend: b, Mode: *mode, Tasks: *tasks, Concurrency: *concurrency, Rate: *rate,
		Payload: *payloadSize, Batch: *batch, LeaseBatch: *leaseBatch}
	if *mode == "enqueue" {
		cfg.UsedMemory = usedMemory
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "%s: %d tasks in %.3fs = %.0f tasks/s (concurrency %d", res.Mode, res.Tasks, res.Seconds, res.TasksPerSec, res.Concurrency)
	if res.Batch > 0 {
		fmt.Fprintf(stdout, ", batch %d", res.Batch)
	}
	fmt.Fprintln(stdout, ")")
	if res.Mode == "latency" {
		fmt.Fprintf(stdout, "submit → start at %.0f/s: p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", res.Rate, res.P50ms, res.P90ms, res.P99ms, res.MaxMs)
	}
	if res.BytesPerTask > 0 {
		fmt.Fprintf(stdout, "Redis memory per pending task: %.0f bytes\n", res.BytesPerTask)
	}
	return nil
}

// openBenchBackend opens the backend to measure as openBackend does, in
// a place of its own: a fresh key prefix on Redis (unless the URL names
// one), a temporary directory for the embedded store when neither
// --backend nor --data names one. cleanup removes what the run stored
// there (unless keep) and closes the backend. usedMemory is set for
// Redis.
func openBenchBackend(ctx context.Context, rawURL, dataDir string, keep bool) (b backend.Backend, usedMemory func(context.Context) (int64, error), cleanup func(), err error) {
	quiet := slog.New(slog.DiscardHandler)
	temp := ""
	ownSchema := false // a schema bench made, dropped by cleanup
	switch schemeOf(rawURL) {
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		// An empty prefix would be the default one, and cleanup wipes it.
		_, query, _ := strings.Cut(rawURL, "?")
		if q, _ := url.ParseQuery(query); q.Get("prefix") == "" {
			if rawURL, err = withQuery(rawURL, "prefix", fmt.Sprintf("tmbench%08x", rand.Uint32())); err != nil {
				return nil, nil, nil, err
			}
		}
	case "postgres", "postgresql":
		// A schema of its own, dropped by cleanup, unless the URL names one.
		_, query, _ := strings.Cut(rawURL, "?")
		if q, _ := url.ParseQuery(query); q.Get("schema") == "" {
			if rawURL, err = withQuery(rawURL, "schema", fmt.Sprintf("tmbench%08x", rand.Uint32())); err != nil {
				return nil, nil, nil, err
			}
			ownSchema = true
		}
	default:
		embeddedInData := rawURL == "" || rawURL == "embedded" || rawURL == "embedded://"
		if embeddedInData && dataDir == "" {
			if temp, err = os.MkdirTemp("", "taskmill-bench-"); err != nil {
				return nil, nil, nil, err
			}
			dataDir = temp
		}
	}
	b, _, err = openBackend(ctx, rawURL, dataDir, quiet)
	if err != nil {
		if temp != "" {
			os.RemoveAll(temp)
		}
		return nil, nil, nil, fmt.Errorf("open backend: %w", err)
	}
	cleanup = func() {
		if rb, ok := b.(*redis.Backend); ok && !keep {
			if err := rb.Wipe(context.Background()); err != nil {
				fmt.Fprintf(os.Stderr, "taskmill bench: remove the benchmark's keys: %v\n", err)
			}
		}
		if pb, ok := b.(*postgres.Backend); ok && ownSchema && !keep {
			if err := pb.DropSchema(context.Background()); err != nil {
				fmt.Fprintf(os.Stderr, "taskmill bench: drop the benchmark's schema: %v\n", err)
			}
		}
		b.Close()
		if temp != "" && !keep {
			os.RemoveAll(temp)
		}
	}
	if rb, ok := b.(*redis.Backend); ok {
		usedMemory = rb.UsedMemory
	}
	return b, usedMemory, cleanup, nil
}
