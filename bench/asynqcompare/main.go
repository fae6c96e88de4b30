// Command asynqcompare runs the workloads of `taskmill bench` against
// asynq, so that the two can be measured side by side on one machine and
// one Redis. It is a separate module so that asynq never becomes a
// dependency of taskmill.
//
//	go run . --redis 127.0.0.1:6399 --db 1 --mode process --tasks 100000 --concurrency 50
//
// Every run empties the chosen database first (FLUSHDB): give it one of
// its own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

type result struct {
	Mode         string  `json:"mode"`
	Tasks        int     `json:"tasks"`
	Concurrency  int     `json:"concurrency"`
	Seconds      float64 `json:"seconds"`
	TasksPerSec  float64 `json:"tasks_per_sec"`
	Rate         float64 `json:"rate,omitempty"`
	P50ms        float64 `json:"p50_ms,omitempty"`
	P90ms        float64 `json:"p90_ms,omitempty"`
	P99ms        float64 `json:"p99_ms,omitempty"`
	MaxMs        float64 `json:"max_ms,omitempty"`
	BytesPerTask float64 `json:"bytes_per_task,omitempty"`
}

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	db := flag.Int("db", 1, "Redis database, emptied before the run")
	mode := flag.String("mode", "process", "enqueue, process or latency")
	tasks := flag.Int("tasks", 100_000, "number of tasks")
	conc := flag.Int("concurrency", 50, "clients (enqueue) or worker concurrency")
	rate := flag.Float64("rate", 500, "latency mode: submits per second")
	size := flag.Int("payload", 64, "payload bytes")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()

	ctx := context.Background()
	opt := asynq.RedisClientOpt{Addr: *addr, DB: *db}
	rdb := redis.NewClient(&redis.Options{Addr: *addr, DB: *db})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		log.Fatal(err)
	}
	var r result
	var err error
	switch *mode {
	case "enqueue":
		r, err = runEnqueue(ctx, opt, rdb, *tasks, *conc, *size)
	case "process":
		r, err = runProcess(ctx, opt, *tasks, *conc, *size)
	case "latency":
		r, err = runLatency(ctx, opt, *tasks, *conc, *rate, *size)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
	_ = rdb.FlushDB(ctx).Err()
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("asynq %s: %d tasks in %.3fs = %.0f tasks/s (concurrency %d)\n", r.Mode, r.Tasks, r.Seconds, r.TasksPerSec, r.Concurrency)
	if r.Mode == "latency" {
		fmt.Printf("submit → start at %.0f/s: p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", r.Rate, r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	}
	if r.BytesPerTask > 0 {
		fmt.Printf("Redis memory per pending task: %.0f bytes\n", r.BytesPerTask)
	}
}

// payload is a JSON object of exactly n bytes carrying a timestamp, the
// same shape taskmill's benchmark submits.
func payload(n int, stamp string) []byte {
	head := `{"t":"` + stamp + `","p":"`
	return []byte(head + strings.Repeat("x", max(0, n-len(head)-2)) + `"}`)
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory")
}

func runEnqueue(ctx context.Context, opt asynq.RedisClientOpt, rdb *redis.Client, n, conc, size int) (result, error) {
	client := asynq.NewClient(opt)
	defer client.Close()
	body := payload(size, "0")
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		return result{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := client.Enqueue(asynq.NewTask("noop", body)); err != nil {
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
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		return result{}, err
	}
	return result{Mode: "enqueue", Tasks: n, Concurrency: conc, Seconds: el.Seconds(), TasksPerSec: float64(n) / el.Seconds(),
		BytesPerTask: float64(after-before) / float64(n)}, nil
}

func fill(opt asynq.RedisClientOpt, n, size int) error {
	client := asynq.NewClient(opt)
	defer client.Close()
	body := payload(size, "0")
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := client.Enqueue(asynq.NewTask("noop", body)); err != nil {
					firstErr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return e
	}
	return nil
}

func newServer(opt asynq.RedisClientOpt, conc int) *asynq.Server {
	return asynq.NewServer(opt, asynq.Config{Concurrency: conc, Queues: map[string]int{"default": 1},
		LogLevel: asynq.ErrorLevel, ShutdownTimeout: 5 * time.Second})
}

func runProcess(ctx context.Context, opt asynq.RedisClientOpt, n, conc, size int) (result, error) {
	if err := fill(opt, n, size); err != nil {
		return result{}, err
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	var handled atomic.Int64
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { handled.Add(1); return nil })
	srv := newServer(opt, conc)
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		return result{}, err
	}
	defer srv.Shutdown()
	// The last ack is done when nothing is pending or active any more.
	for {
		if handled.Load() >= int64(n) {
			q, err := insp.GetQueueInfo("default")
			if err != nil {
				return result{}, err
			}
			if q.Pending == 0 && q.Active == 0 {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	return result{Mode: "process", Tasks: n, Concurrency: conc, Seconds: el.Seconds(), TasksPerSec: float64(n) / el.Seconds()}, nil
}

func runLatency(ctx context.Context, opt asynq.RedisClientOpt, n, conc int, rate float64, size int) (result, error) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	all := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *asynq.Task) error {
		now := time.Now()
		var p struct {
			T string `json:"t"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		ns, _ := strconv.ParseInt(p.T, 10, 64)
		mu.Lock()
		lat = append(lat, now.Sub(time.Unix(0, ns)))
		if len(lat) == n {
			close(all)
		}
		mu.Unlock()
		return nil
	})
	srv := newServer(opt, conc)
	if err := srv.Start(mux); err != nil {
		return result{}, err
	}
	defer srv.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()
	time.Sleep(200 * time.Millisecond)
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
			body := payload(size, strconv.FormatInt(time.Now().UnixNano(), 10))
			if _, err := client.Enqueue(asynq.NewTask("noop", body)); err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		return result{}, fmt.Errorf("tasks did not all start within 30s")
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
