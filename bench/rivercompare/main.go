// Command rivercompare runs the workloads of `taskmill bench` against
// River (github.com/riverqueue/river, driver riverpgxv5) on a PostgreSQL
// of your choice, so that the two can be measured side by side on one
// machine and one database server. It is a separate module so that River
// never becomes a dependency of taskmill.
//
//	go run . --database postgres://… --mode process --tasks 100000 --concurrency 100
//
// Each run creates a database of its own (river_bench_<random>), runs
// River's migrations in it, and drops it afterwards. River is tuned as
// its own benchmark tunes it: a 2 ms fetch cooldown, a short poll
// interval and as many workers as --concurrency.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type result struct {
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
}

// noopArgs is the benchmark's job: a payload of the same shape and size
// taskmill's benchmark submits.
type noopArgs struct {
	T string `json:"t"`
	P string `json:"p"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	onWork func(*river.Job[noopArgs])
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error {
	if w.onWork != nil {
		w.onWork(job)
	}
	return nil
}

func args(size int, stamp string) noopArgs {
	head := len(`{"t":"` + stamp + `","p":"`)
	return noopArgs{T: stamp, P: strings.Repeat("x", max(0, size-head-2))}
}

func main() {
	dbURL := flag.String("database", os.Getenv("DATABASE_URL"), "PostgreSQL URL of a server where a database may be created")
	mode := flag.String("mode", "process", "enqueue, process or latency")
	tasks := flag.Int("tasks", 100_000, "number of jobs")
	conc := flag.Int("concurrency", 50, "clients (enqueue) or workers (process, latency)")
	batch := flag.Int("batch", 1, "enqueue mode: jobs per InsertMany (1: single inserts)")
	rate := flag.Float64("rate", 500, "latency mode: inserts per second")
	size := flag.Int("payload", 64, "payload bytes")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	ctx := context.Background()

	name := fmt.Sprintf("river_bench_%08x", rand.Uint32())
	admin, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		log.Fatal(err)
	}
	defer func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	}()
	u, err := url.Parse(*dbURL)
	if err != nil {
		log.Fatal(err)
	}
	u.Path = "/" + name
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = int32(max(32, *conc/2))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		log.Fatal(err)
	}

	var r result
	switch *mode {
	case "enqueue":
		r, err = runEnqueue(ctx, pool, *tasks, *conc, *batch, *size)
	case "process":
		r, err = runProcess(ctx, pool, *tasks, *conc, *size)
	case "latency":
		r, err = runLatency(ctx, pool, *tasks, *conc, *rate, *size)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("river %s: %d jobs in %.3fs = %.0f jobs/s (concurrency %d", r.Mode, r.Tasks, r.Seconds, r.TasksPerSec, r.Concurrency)
	if r.Batch > 1 {
		fmt.Printf(", batch %d", r.Batch)
	}
	fmt.Println(")")
	if r.Mode == "latency" {
		fmt.Printf("insert → start at %.0f/s: p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", r.Rate, r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	}
}

// newClient is a River client tuned as River's own benchmark: fetch
// cooldown 2 ms, a short poll interval, conc workers. workers nil gives
// an insert-only client.
func newClient(pool *pgxpool.Pool, conc int, w *noopWorker) (*river.Client[pgx.Tx], error) {
	c := &river.Config{Logger: slog.New(slog.DiscardHandler)}
	if w != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c.Workers = workers
		c.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conc}}
		c.FetchCooldown = 2 * time.Millisecond
		c.FetchPollInterval = 20 * time.Millisecond
	}
	return river.NewClient(riverpgxv5.New(pool), c)
}

func runEnqueue(ctx context.Context, pool *pgxpool.Pool, n, conc, batch, size int) (result, error) {
	client, err := newClient(pool, conc, nil)
	if err != nil {
		return result{}, err
	}
	a := args(size, "0")
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				end := next.Add(int64(batch))
				k := int64(batch) - max(0, end-int64(n))
				if k <= 0 {
					return
				}
				var err error
				if batch == 1 {
					_, err = client.Insert(ctx, a, nil)
				} else {
					params := make([]river.InsertManyParams, k)
					for i := range params {
						params[i] = river.InsertManyParams{Args: a}
					}
					_, err = client.InsertMany(ctx, params)
				}
				if err != nil {
					firstErr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if e, ok := firstErr.Load().(error); ok {
		return result{}, e
	}
	r := result{Mode: "enqueue", Tasks: n, Concurrency: conc, Seconds: el.Seconds(), TasksPerSec: float64(n) / el.Seconds()}
	if batch > 1 {
		r.Batch = batch
	}
	return r, nil
}

// fill inserts n jobs in batches, before a process run starts the clock.
func fill(ctx context.Context, pool *pgxpool.Pool, n, size int) error {
	client, err := newClient(pool, 1, nil)
	if err != nil {
		return err
	}
	a := args(size, "0")
	for done := 0; done < n; {
		k := min(1000, n-done)
		params := make([]river.InsertManyParams, k)
		for i := range params {
			params[i] = river.InsertManyParams{Args: a}
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// runProcess drains n jobs inserted beforehand; the clock stops when
// every job is completed in the database (River completes in batches,
// after Work returns), polled every 2 ms as taskmill's benchmark does.
func runProcess(ctx context.Context, pool *pgxpool.Pool, n, conc, size int) (result, error) {
	if err := fill(ctx, pool, n, size); err != nil {
		return result{}, err
	}
	var handled atomic.Int64
	client, err := newClient(pool, conc, &noopWorker{onWork: func(*river.Job[noopArgs]) { handled.Add(1) }})
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return result{}, err
	}
	defer client.Stop(context.Background()) //nolint:errcheck // the run is over
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if handled.Load() >= int64(n) {
			var left int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state <> 'completed'").Scan(&left); err != nil {
				return result{}, err
			}
			if left == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d jobs worked in 10 minutes", handled.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	return result{Mode: "process", Tasks: n, Concurrency: conc, Seconds: el.Seconds(), TasksPerSec: float64(n) / el.Seconds()}, nil
}

// runLatency inserts at a steady rate and measures insert → Work start.
func runLatency(ctx context.Context, pool *pgxpool.Pool, n, conc int, rate float64, size int) (result, error) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	all := make(chan struct{})
	w := &noopWorker{onWork: func(job *river.Job[noopArgs]) {
		now := time.Now()
		ns, _ := strconv.ParseInt(job.Args.T, 10, 64)
		mu.Lock()
		lat = append(lat, now.Sub(time.Unix(0, ns)))
		if len(lat) == n {
			close(all)
		}
		mu.Unlock()
	}}
	client, err := newClient(pool, conc, w)
	if err != nil {
		return result{}, err
	}
	if err := client.Start(ctx); err != nil {
		return result{}, err
	}
	defer client.Stop(context.Background()) //nolint:errcheck // the run is over
	time.Sleep(500 * time.Millisecond)      // let the producers start listening
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Insert(ctx, args(size, strconv.FormatInt(time.Now().UnixNano(), 10)), nil); err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		return result{}, fmt.Errorf("jobs did not all start within 60s")
	}
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 {
		i := int(math.Ceil(f*float64(len(lat)))) - 1
		return ms(lat[max(0, min(i, len(lat)-1))])
	}
	return result{Mode: "latency", Tasks: n, Concurrency: conc, Rate: rate, Seconds: el.Seconds(), TasksPerSec: float64(n) / el.Seconds(),
		P50ms: q(0.5), P90ms: q(0.9), P99ms: q(0.99), MaxMs: ms(lat[len(lat)-1])}, nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
