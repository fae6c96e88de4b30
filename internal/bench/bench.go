// Package bench measures a backend the way users meet it: through the
// public Client and Worker, with the same code paths as `taskmill serve`
// and `taskmill worker`. `taskmill bench` is its command line.
//
// Three modes:
//
//   - enqueue: Tasks submits from Concurrency concurrent clients (single
//     submits, or SubmitMany calls of Batch tasks);
//   - process: Tasks no-op tasks are submitted first, then one worker
//     with Concurrency slots drains them; the clock runs from the
//     worker's start to the last ack;
//   - latency: a worker with Concurrency slots runs while tasks are
//     submitted at Rate per second; each handler records how long after
//     its submit began it started.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// Config describes one run.
type Config struct {
	Backend     backend.Backend
	Mode        string  // "enqueue", "process" or "latency"
	Tasks       int     // how many tasks; at least 1
	Concurrency int     // clients (enqueue) or worker slots (process, latency)
	Rate        float64 // latency mode: submits per second; default 500
	Payload     int     // payload size in bytes; default 64
	Batch       int     // enqueue mode: tasks per SubmitMany call; default 1 (single submits)
	Queue       string  // default "bench"
	// LeaseBatch is the worker's WorkerConfig.LeaseBatch (process and
	// latency modes): the most tasks one Lease call takes. Default the
	// worker's default.
	LeaseBatch int
	// UsedMemory, when set, reports the store's memory use; enqueue mode
	// then reports bytes per task (all tasks are pending at its end).
	UsedMemory func(ctx context.Context) (int64, error)
	Logger     *slog.Logger // the worker's logs; default discarded
}

// Result is what `taskmill bench --json` prints.
type Result struct {
	Mode        string  `json:"mode"`
	Tasks       int     `json:"tasks"`
	Concurrency int     `json:"concurrency"`
	Batch       int     `json:"batch,omitempty"`
	Seconds     float64 `json:"seconds"`
	TasksPerSec float64 `json:"tasks_per_sec"`
	Rate        float64 `json:"rate,omitempty"`
	P50ms       float64 `json:"p50_ms,omitempty"`
	P90ms       float64 `json:"p90_ms,omitempty"`
	P99ms       float64 `json:"p99_ms,omitempty"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	// BytesPerTask is the store's memory growth per pending task
	// (enqueue mode, when Config.UsedMemory is set).
	BytesPerTask float64 `json:"bytes_per_task,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Rate <= 0 {
		c.Rate = 500
	}
	if c.Payload <= 0 {
		c.Payload = 64
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.Queue == "" {
		c.Queue = "bench"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Run runs one benchmark.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if cfg.Backend == nil {
		return Result{}, errors.New("bench: no backend")
	}
	if cfg.Tasks < 1 || cfg.Concurrency < 1 {
		return Result{}, errors.New("bench: tasks and concurrency must be at least 1")
	}
	switch cfg.Mode {
	case "enqueue":
		return runEnqueue(ctx, cfg)
	case "process":
		return runProcess(ctx, cfg)
	case "latency":
		return runLatency(ctx, cfg)
	}
	return Result{}, fmt.Errorf("bench: unknown mode %q (want enqueue, process or latency)", cfg.Mode)
}

// payload returns a JSON object of n bytes carrying stamp, or the
// smallest such object when n is too small to hold it.
func payload(n int, stamp string) json.RawMessage {
	head := `{"t":"` + stamp + `","p":"`
	pad := max(0, n-len(head)-2)
	return json.RawMessage(head + strings.Repeat("x", pad) + `"}`)
}

func runEnqueue(ctx context.Context, cfg Config) (Result, error) {
	client := taskmill.NewClient(cfg.Backend, taskmill.ClientConfig{})
	body := payload(cfg.Payload, "0")
	var before int64
	if cfg.UsedMemory != nil {
		var err error
		if before, err = cfg.UsedMemory(ctx); err != nil {
			return Result{}, err
		}
	}
	var next atomic.Int64 // tasks handed out
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]taskmill.TaskRequest, 0, cfg.Batch)
			for ctx.Err() == nil {
				end := next.Add(int64(cfg.Batch))
				n := int64(cfg.Batch) - max(0, end-int64(cfg.Tasks))
				if n <= 0 {
					return
				}
				var err error
				if cfg.Batch == 1 {
					_, err = client.Submit(ctx, taskmill.TaskRequest{Type: "noop", Queue: cfg.Queue, Payload: body})
				} else {
					batch = batch[:0]
					for range n {
						batch = append(batch, taskmill.TaskRequest{Type: "noop", Queue: cfg.Queue, Payload: body})
					}
					_, err = client.SubmitMany(ctx, batch)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Result{}, fmt.Errorf("bench: submit: %w", firstErr)
	}
	r := Result{Mode: "enqueue", Tasks: cfg.Tasks, Concurrency: cfg.Concurrency, Seconds: elapsed.Seconds(),
		TasksPerSec: float64(cfg.Tasks) / elapsed.Seconds()}
	if cfg.Batch > 1 {
		r.Batch = cfg.Batch
	}
	if cfg.UsedMemory != nil {
		after, err := cfg.UsedMemory(ctx)
		if err != nil {
			return Result{}, err
		}
		r.BytesPerTask = float64(after-before) / float64(cfg.Tasks)
	}
	return r, nil
}

// fill submits n tasks quickly, in batches, for the process mode.
func fill(ctx context.Context, client *taskmill.Client, cfg Config) error {
	body := payload(cfg.Payload, "0")
	const batch = 500
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reqs := make([]taskmill.TaskRequest, 0, batch)
			for {
				end := next.Add(batch)
				n := batch - max(0, end-int64(cfg.Tasks))
				if n <= 0 {
					return
				}
				reqs = reqs[:0]
				for range n {
					reqs = append(reqs, taskmill.TaskRequest{Type: "noop", Queue: cfg.Queue, Payload: body})
				}
				if _, err := client.SubmitMany(ctx, reqs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("bench: fill the queue: %w", err)
	default:
		return nil
	}
}

// settler is a backend that leaves work of its own behind a submit, done
// in the background (PostgreSQL indexes new tasks for search a moment
// after their submit). The process mode lets it finish before its clock
// starts, as it lets the fill finish: what it measures is the draining
// of a backlog, and a backlog's background work is long done by then.
type settler interface {
	Settle(ctx context.Context) error
}

func runProcess(ctx context.Context, cfg Config) (Result, error) {
	client := taskmill.NewClient(cfg.Backend, taskmill.ClientConfig{})
	if err := fill(ctx, client, cfg); err != nil {
		return Result{}, err
	}
	if s, ok := cfg.Backend.(settler); ok {
		if err := s.Settle(ctx); err != nil {
			return Result{}, fmt.Errorf("bench: settle after the fill: %w", err)
		}
	}
	var handled atomic.Int64
	mux := taskmill.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *taskmill.Task) (any, error) {
		handled.Add(1)
		return nil, nil
	})
	w, err := taskmill.NewWorker(cfg.Backend, taskmill.WorkerConfig{Handler: mux, Concurrency: cfg.Concurrency,
		Queues: map[string]int{cfg.Queue: 1}, LeaseBatch: cfg.LeaseBatch, Logger: cfg.Logger})
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		return Result{}, err
	}
	defer w.Stop(context.Background())
	// The last ack is done when the queue counts every task completed.
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if handled.Load() >= int64(cfg.Tasks) {
			done, err := completed(ctx, cfg.Backend, cfg.Queue)
			if err != nil {
				return Result{}, err
			}
			if done >= cfg.Tasks {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	return Result{Mode: "process", Tasks: cfg.Tasks, Concurrency: cfg.Concurrency, Seconds: elapsed.Seconds(),
		TasksPerSec: float64(cfg.Tasks) / elapsed.Seconds()}, nil
}

func completed(ctx context.Context, b backend.Backend, queue string) (int, error) {
	qs, err := b.Queues(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: read queue counts: %w", err)
	}
	for _, q := range qs {
		if q.Name == queue {
			return q.Counts[backend.StateCompleted], nil
		}
	}
	return 0, nil
}

func runLatency(ctx context.Context, cfg Config) (Result, error) {
	client := taskmill.NewClient(cfg.Backend, taskmill.ClientConfig{})
	lat := make([]time.Duration, 0, cfg.Tasks)
	var mu sync.Mutex
	all := make(chan struct{})
	mux := taskmill.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *taskmill.Task) (any, error) {
		now := time.Now()
		var p struct {
			T string `json:"t"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return nil, err
		}
		ns, _ := strconv.ParseInt(p.T, 10, 64)
		mu.Lock()
		lat = append(lat, now.Sub(time.Unix(0, ns)))
		if len(lat) == cfg.Tasks {
			close(all)
		}
		mu.Unlock()
		return nil, nil
	})
	w, err := taskmill.NewWorker(cfg.Backend, taskmill.WorkerConfig{Handler: mux, Concurrency: cfg.Concurrency,
		Queues: map[string]int{cfg.Queue: 1}, LeaseBatch: cfg.LeaseBatch, Logger: cfg.Logger})
	if err != nil {
		return Result{}, err
	}
	if err := w.Start(ctx); err != nil {
		return Result{}, err
	}
	defer w.Stop(context.Background())
	time.Sleep(200 * time.Millisecond) // let the worker reach its idle wait
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for i := range cfg.Tasks {
		// Pace by the schedule, not by the previous submit, so a slow
		// submit does not lower the rate.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := payload(cfg.Payload, strconv.FormatInt(time.Now().UnixNano(), 10))
			if _, err := client.Submit(ctx, taskmill.TaskRequest{Type: "noop", Queue: cfg.Queue, Payload: body}); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Result{}, fmt.Errorf("bench: submit: %w", firstErr)
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		return Result{}, errors.New("bench: tasks did not all start within 30s of the last submit")
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return Result{Mode: "latency", Tasks: cfg.Tasks, Concurrency: cfg.Concurrency, Rate: cfg.Rate,
		Seconds: elapsed.Seconds(), TasksPerSec: float64(cfg.Tasks) / elapsed.Seconds(),
		P50ms: pct(lat, 0.50), P90ms: pct(lat, 0.90), P99ms: pct(lat, 0.99), MaxMs: ms(lat[len(lat)-1])}, nil
}

// pct returns the q-quantile (nearest rank) in milliseconds.
func pct(sorted []time.Duration, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return ms(sorted[max(0, min(i, len(sorted)-1))])
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
