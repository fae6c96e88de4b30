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

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
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
	mode := fs.String("mode", "process", "enqueue (submit throughput), process (drain throughput) or latency (submit to handler start)")
	tasks := fs.Int("tasks", 100_000, "number of tasks")
	concurrency := fs.Int("concurrency", 50, "concurrent clients (enqueue) or worker slots (process, latency)")
	rate := fs.Float64("rate", 500, "latency mode: submits per second")
	payloadSize := fs.Int("payload", 64, "payload size in bytes")
	batch := fs.Int("batch", 1, "enqueue mode: tasks per batch submit (1: single submits)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	keep := fs.Bool("keep", false, "keep the benchmark's tasks instead of removing them afterwards")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "Usage: taskmill bench --backend URL --mode enqueue|process|latency --tasks N --concurrency C [--rate R] [--payload BYTES] [--batch B] [--json]")
			fs.PrintDefaults()
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *mode != "enqueue" && *mode != "process" && *mode != "latency":
		return usagef("--mode must be enqueue, process or latency, got %q", *mode)
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
	}
	b, usedMemory, cleanup, err := openBenchBackend(ctx, *backendURL, *dataDir, *keep)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg := bench.Config{Backend: b, Mode: *mode, Tasks: *tasks, Concurrency: *concurrency, Rate: *rate,
		Payload: *payloadSize, Batch: *batch}
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

// openBenchBackend opens the backend to measure, in a place of its own:
// a temporary directory for the embedded store (unless --data names
// one), a fresh key prefix on Redis; cleanup removes it.
func openBenchBackend(ctx context.Context, rawURL, dataDir string, keep bool) (backend.Backend, func(context.Context) (int64, error), func(), error) {
	quiet := slog.New(slog.DiscardHandler)
	if strings.HasPrefix(rawURL, "redis") {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, nil, nil, usagef("--backend %q: %v", redactURL(rawURL), err)
		}
		q := u.Query()
		if q.Get("prefix") == "" {
			q.Set("prefix", fmt.Sprintf("tmbench%08x", rand.Uint32()))
			u.RawQuery = q.Encode()
		}
		if _, _, err := redis.ParseURL(u.String(), redis.Options{}); err != nil {
			return nil, nil, nil, usagef("--backend %s: %v", redactURL(rawURL), err)
		}
		rb, err := redis.Open(ctx, u.String(), redis.Options{Logger: quiet})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open backend: %w", err)
		}
		cleanup := func() {
			if !keep {
				if err := rb.Wipe(context.Background()); err != nil {
					fmt.Fprintf(os.Stderr, "taskmill bench: remove the benchmark's keys: %v\n", err)
				}
			}
			rb.Close()
		}
		return rb, rb.UsedMemory, cleanup, nil
	}
	dir, temp := dataDir, false
	if rawURL != "" && rawURL != "embedded" && rawURL != "embedded://" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "file" && u.Scheme != "embedded") {
			return nil, nil, nil, usagef("--backend %q: want a redis URL or the embedded store", redactURL(rawURL))
		}
		dir = u.Path
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "taskmill-bench-")
		if err != nil {
			return nil, nil, nil, err
		}
		dir, temp = d, true
	}
	eb, err := embedded.Open(dir, embedded.Options{Logger: quiet})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open backend: %w", err)
	}
	cleanup := func() {
		eb.Close()
		if temp && !keep {
			os.RemoveAll(dir)
		}
	}
	return eb, nil, cleanup, nil
}
