package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

// BenchmarkExtend measures a worker's heartbeat: one Extend of the 50
// leases it holds, each task with an 8 KiB payload. Extend rewrites only
// the small lease records, so the payload must not show in the cost.
func BenchmarkExtend(b *testing.B) {
	ctx := context.Background()
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := json.RawMessage(`{"data":"` + strings.Repeat("x", 8<<10) + `"}`)
	tasks := make([]*backend.Task, 50)
	for i := range tasks {
		tasks[i] = &backend.Task{ID: fmt.Sprintf("t%03d", i), Type: "echo", Queue: "default", State: backend.StatePending,
			MaxAttempts: 3, CreatedAt: time.Now().UTC(), Payload: payload}
	}
	if _, err := s.Enqueue(ctx, tasks); err != nil {
		b.Fatal(err)
	}
	leased, err := s.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 50, LeaseFor: time.Minute})
	if err != nil || len(leased) != 50 {
		b.Fatalf("lease: %v, %d", err, len(leased))
	}
	refs := make([]backend.LeaseRef, len(leased))
	for i, t := range leased {
		refs[i] = t.Ref()
	}
	b.ResetTimer()
	for range b.N {
		res, err := s.Extend(ctx, "w", refs, time.Minute)
		if err != nil || !res[0].Held {
			b.Fatalf("extend: %v %+v", err, res)
		}
	}
}

// BenchmarkLeaseAck measures the store's work for one task's lease and
// ack: leases of 50 tasks, each acked from a goroutine of its own (so
// acks group as a worker's do). NoSync leaves the fsyncs out, which cost
// the same whatever the store writes.
func BenchmarkLeaseAck(b *testing.B) {
	ctx := context.Background()
	s, err := embedded.Open(b.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill(b, s, b.N)
	b.ResetTimer()
	for done := 0; done < b.N; {
		leased, err := s.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 50, LeaseFor: time.Minute})
		if err != nil || len(leased) == 0 {
			b.Fatalf("lease: %v, %d tasks", err, len(leased))
		}
		var wg sync.WaitGroup
		for _, t := range leased {
			wg.Go(func() {
				if err := s.Ack(ctx, t.Ref(), nil); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		done += len(leased)
	}
}

// BenchmarkEnqueue measures single submits from 50 goroutines, without
// fsync (see BenchmarkLeaseAck).
func BenchmarkEnqueue(b *testing.B) {
	s, err := embedded.Open(b.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(25) // 25 × GOMAXPROCS submitters
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := benchTask(int(n.Add(1)))
			if _, err := s.Enqueue(context.Background(), []*backend.Task{t}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchTask(i int) *backend.Task {
	return &backend.Task{ID: fmt.Sprintf("%016x", i), Type: "noop", Queue: "default", State: backend.StatePending,
		MaxAttempts: 25, CreatedAt: time.Now().UTC(), Payload: json.RawMessage(`{"n":35}`)}
}

// fill enqueues n tasks in batches of 1,000.
func fill(b *testing.B, s *embedded.Backend, n int) {
	for i := 0; i < n; i += 1000 {
		batch := make([]*backend.Task, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, benchTask(j))
		}
		if _, err := s.Enqueue(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}
