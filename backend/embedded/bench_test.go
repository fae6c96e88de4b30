package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
