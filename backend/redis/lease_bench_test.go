package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// BenchmarkLease measures the worker's side of leasing on a real Redis:
// one op is one task leased, in calls of 32 as a worker leases them. The
// tasks are submitted before the timer starts; allocs/op is the client's
// work per task, which load on the machine does not change.
//
//	go test -run '^$' -bench Lease -benchmem ./backend/redis/
func BenchmarkLease(b *testing.B) {
	srv := testredis.Start(b, testredis.Options{})
	url := fmt.Sprintf("%s?prefix=bench%d", srv.URL(), prefixSeq.Add(1))
	be, err := redis.Open(context.Background(), url, testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	for done := 0; done < b.N; {
		batch := make([]*backend.Task, 0, 500)
		for ; done < b.N && len(batch) < cap(batch); done++ {
			batch = append(batch, task("bench"))
		}
		if _, err := be.Enqueue(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for leased := 0; leased < b.N; {
		tasks, err := be.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"bench"},
			Max: 32, LeaseFor: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if len(tasks) == 0 {
			b.Fatalf("nothing leased after %d of %d", leased, b.N)
		}
		leased += len(tasks)
	}
}
