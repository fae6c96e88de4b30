package bench

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

func TestPayloadHasTheAskedSize(t *testing.T) {
	for _, tc := range []struct {
		n     int
		stamp string
	}{{16, "0"}, {64, "0"}, {64, "1700000000000000000"}, {1000, "1700000000000000000"}} {
		p := payload(tc.n, tc.stamp)
		if len(p) != tc.n || !json.Valid(p) {
			t.Fatalf("payload(%d, %s) = %d bytes, valid %v: %s", tc.n, tc.stamp, len(p), json.Valid(p), p)
		}
	}
}

func runAll(t *testing.T, b backend.Backend, mem func(context.Context) (int64, error)) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{Mode: "enqueue", Tasks: 300, Concurrency: 8, UsedMemory: mem},
		{Mode: "enqueue", Tasks: 300, Concurrency: 2, Batch: 50, Queue: "batch"},
		{Mode: "process", Tasks: 300, Concurrency: 8, Queue: "proc"},
		{Mode: "latency", Tasks: 100, Concurrency: 4, Rate: 1000, Queue: "lat"},
	} {
		cfg.Backend = b
		r, err := Run(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Mode, err)
		}
		if r.Tasks != cfg.Tasks || r.Seconds <= 0 || r.TasksPerSec <= 0 {
			t.Fatalf("%s: result %+v", cfg.Mode, r)
		}
		if cfg.Mode == "latency" && !(r.P50ms > 0 && r.P50ms <= r.P90ms && r.P90ms <= r.P99ms && r.P99ms <= r.MaxMs) {
			t.Fatalf("latency percentiles out of order: %+v", r)
		}
		if mem != nil && cfg.UsedMemory != nil && r.BytesPerTask <= 0 {
			t.Fatalf("no memory per task reported: %+v", r)
		}
	}
	// Every submitted task exists and the process mode left none behind.
	qs, err := b.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[backend.State]int{}
	for _, q := range qs {
		got[q.Name] = q.Counts
	}
	if got["bench"][backend.StatePending] != 300 || got["batch"][backend.StatePending] != 300 ||
		got["proc"][backend.StateCompleted] != 300 || got["lat"][backend.StateCompleted] != 100 {
		t.Fatalf("queue counts after the runs: %v", got)
	}
}

func TestModesOnEmbedded(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runAll(t, b, nil)
}

func TestModesOnRedis(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	b, err := redis.Open(context.Background(), srv.URL(), redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runAll(t, b, b.UsedMemory)
}
