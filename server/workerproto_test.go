package server_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// TestWorkerProtocol drives the HTTP worker protocol the way a program in
// another language does, with the same leases and fencing as Go workers.
func TestWorkerProtocol(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker())
		base := "/api/workers/ext-1"
		var hb apiclient.HeartbeatReply
		e.wantStatus(200, "POST", base+"/heartbeat", map[string]any{"host": "box", "pid": 7, "queues": []string{"ext"}, "types": []string{"resize"}, "concurrency": 2, "ttl": "10s"}, &hb)
		if hb.StopRequested {
			t.Fatal("a new worker is asked to stop")
		}
		var list apiclient.WorkerList
		e.wantStatus(200, "GET", "/api/workers", nil, &list)
		if len(list.Workers) != 1 || list.Workers[0].ID != "ext-1" || list.Workers[0].Types[0] != "resize" || list.Workers[0].Concurrency != 2 {
			t.Fatalf("registry = %+v", list.Workers)
		}
		started := list.Workers[0].StartedAt

		// An empty lease returns at once without wait.
		var lr apiclient.LeaseReply
		e.wantStatus(200, "POST", base+"/lease", map[string]any{"queues": []string{"ext"}}, &lr)
		if len(lr.Tasks) != 0 {
			t.Fatalf("lease of an empty queue = %+v", lr)
		}
		// A long poll wakes when a task arrives.
		var wg sync.WaitGroup
		wg.Add(1)
		var polled apiclient.LeaseReply
		go func() {
			defer wg.Done()
			e.do("POST", base+"/lease", map[string]any{"queues": []string{"ext"}, "types": []string{"resize"}, "max": 5, "wait": "20s", "lease_for": "10s"}, &polled)
		}()
		time.Sleep(100 * time.Millisecond)
		task := e.submit(map[string]any{"type": "resize", "queue": "ext", "payload": map[string]any{"w": 64}, "max_attempts": 2})
		wg.Wait()
		if len(polled.Tasks) != 1 || polled.Tasks[0].ID != task.ID || polled.Tasks[0].LeaseToken == "" || string(polled.Tasks[0].Payload) != `{"w":64}` {
			t.Fatalf("long poll = %+v", polled)
		}
		token := polled.Tasks[0].LeaseToken
		// The token is the lessee's secret: the task view never shows it.
		if got := e.get(task.ID); got.LeaseToken != 0 || got.WorkerID != "ext-1" || got.State != backend.StateProcessing {
			t.Fatalf("task while leased = %+v", got)
		}
		// Heartbeats keep the start time.
		e.wantStatus(200, "POST", base+"/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 2, "running": []string{task.ID}}, &hb)
		e.wantStatus(200, "GET", "/api/workers", nil, &list)
		if !list.Workers[0].StartedAt.Equal(started) || list.Workers[0].Running[0] != task.ID {
			t.Fatalf("after heartbeat = %+v", list.Workers[0])
		}

		var ext apiclient.ExtendReply
		e.wantStatus(200, "POST", base+"/extend", map[string]any{"leases": []any{map[string]any{"task_id": task.ID, "token": token}, map[string]any{"task_id": "gone", "token": "1"}}}, &ext)
		if len(ext.Leases) != 2 || !ext.Leases[0].Held || ext.Leases[1].Held {
			t.Fatalf("extend = %+v", ext)
		}
		e.wantStatus(204, "POST", "/api/tasks/"+task.ID+"/progress", map[string]any{"token": token, "percent": 40, "message": "resizing"}, nil)
		if p := e.get(task.ID).Progress; p == nil || p.Percent != 40 || p.Message != "resizing" {
			t.Fatalf("progress = %+v", p)
		}
		// A wrong token is fenced off (lease_token is "token.secret",
		// opaque to workers; the conformance suite checks the secret).
		num, _, _ := strings.Cut(token, ".")
		wrong := strconv.Itoa(mustAtoi(t, num)+1000) + token[len(num):]
		e.wantError(409, "lease_lost", "token", "POST", "/api/tasks/"+task.ID+"/ack", map[string]any{"token": wrong, "result": 1})
		// First attempt fails and is retried; the reply says so.
		var out apiclient.AttemptOutcome
		e.wantStatus(200, "POST", "/api/tasks/"+task.ID+"/fail", map[string]any{"token": token, "error": "disk full", "retry_after": "1ms"}, &out)
		if out.State != backend.StateRetrying || out.RunAt.IsZero() {
			t.Fatalf("fail with attempts left = %+v", out)
		}
		// The same token is stale now.
		e.wantError(409, "lease_lost", "token", "POST", "/api/tasks/"+task.ID+"/ack", map[string]any{"token": token})
		time.Sleep(20 * time.Millisecond)
		lr = apiclient.LeaseReply{}
		e.wantStatus(200, "POST", base+"/lease", map[string]any{"queues": []string{"ext"}, "wait": "5s"}, &lr)
		if len(lr.Tasks) != 1 || lr.Tasks[0].Attempt != 2 || lr.Tasks[0].LeaseToken == token {
			t.Fatalf("second lease = %+v", lr)
		}
		e.wantStatus(200, "POST", "/api/tasks/"+task.ID+"/ack", map[string]any{"token": lr.Tasks[0].LeaseToken, "result": map[string]any{"w": 32}}, &out)
		done := e.get(task.ID)
		if out.State != backend.StateCompleted || done.State != backend.StateCompleted || string(done.Result) != `{"w":32}` || len(done.Attempts) != 2 || done.Attempts[0].Error != "disk full" {
			t.Fatalf("after ack = %+v / %+v", out, done)
		}

		// Final failure, release, and a task type the worker does not handle.
		t2 := e.submit(map[string]any{"type": "resize", "queue": "ext"})
		t3 := e.submit(map[string]any{"type": "resize", "queue": "ext"})
		lr = apiclient.LeaseReply{}
		e.wantStatus(200, "POST", base+"/lease", map[string]any{"queues": []string{"ext"}, "max": 2}, &lr)
		if len(lr.Tasks) != 2 {
			t.Fatalf("lease of two = %+v", lr)
		}
		tokens := map[string]string{lr.Tasks[0].ID: lr.Tasks[0].LeaseToken, lr.Tasks[1].ID: lr.Tasks[1].LeaseToken}
		e.wantStatus(200, "POST", "/api/tasks/"+t2.ID+"/fail", map[string]any{"token": tokens[t2.ID], "error": "corrupt", "final": true}, &out)
		if out.State != backend.StateFailed {
			t.Fatalf("final fail = %+v", out)
		}
		e.wantStatus(204, "POST", "/api/tasks/"+t3.ID+"/release", map[string]any{"token": tokens[t3.ID]}, nil)
		if got := e.get(t3.ID); got.State != backend.StatePending || got.Attempt != 0 {
			t.Fatalf("released = %+v", got)
		}
		other := e.submit(map[string]any{"type": "echo", "queue": "ext"})
		lr = apiclient.LeaseReply{}
		e.wantStatus(200, "POST", base+"/lease", map[string]any{"queues": []string{"ext"}, "types": []string{"resize"}, "max": 5}, &lr)
		if len(lr.Tasks) != 1 || lr.Tasks[0].ID != t3.ID {
			t.Fatalf("lease with a type filter = %+v", lr)
		}
		if got := e.get(other.ID); got.State != backend.StateFailed || got.LastError == "" {
			t.Fatalf("a task of a type the worker does not handle = %+v", got)
		}

		// Remote stop reaches an HTTP worker through its heartbeat.
		e.wantStatus(202, "DELETE", base, nil, nil)
		e.wantStatus(200, "POST", base+"/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 2}, &hb)
		if !hb.StopRequested {
			t.Fatal("the heartbeat after DELETE does not ask the worker to stop")
		}
		e.wantStatus(204, "POST", base+"/unregister", nil, nil)
		list = apiclient.WorkerList{}
		e.wantStatus(200, "GET", "/api/workers", nil, &list)
		if len(list.Workers) != 0 {
			t.Fatalf("after unregister = %+v", list.Workers)
		}

		// Bad input, each endpoint.
		for _, c := range []struct {
			path, body, code, field string
		}{
			{base + "/heartbeat", `{"concurrency":1}`, "invalid_required", "queues"},
			{base + "/heartbeat", `{"queues":["a b"],"concurrency":1}`, "invalid_charset", "queues[0]"},
			{base + "/heartbeat", `{"queues":["q"],"concurrency":0}`, "invalid_range", "concurrency"},
			{base + "/heartbeat", `{"queues":["q"],"concurrency":1,"ttl":"1h"}`, "invalid_range", "ttl"},
			{base + "/heartbeat", `{"queues":["q"],"concurrency":1,"pid":-1}`, "invalid_range", "pid"},
			{"/api/workers/bad%20id/heartbeat", `{"queues":["q"],"concurrency":1}`, "invalid_charset", "id"},
			{base + "/lease", `{"queues":[]}`, "invalid_required", "queues"},
			{base + "/lease", `{"queues":["q"],"max":1001}`, "invalid_range", "max"},
			{base + "/lease", `{"queues":["q"],"wait":"2m"}`, "invalid_range", "wait"},
			{base + "/lease", `{"queues":["q"],"lease_for":"10ms"}`, "invalid_range", "lease_for"},
			{base + "/lease", `{"queues":["q"],"types":["a/b"]}`, "invalid_charset", "types[0]"},
			{base + "/lease", `{"queues":"q"}`, "invalid_type", "queues"},
			{base + "/extend", `{"leases":[]}`, "invalid_size", "leases"},
			{base + "/extend", `{"leases":[{"task_id":"x","token":"abc"}]}`, "invalid_type", "leases[0].token"},
			{base + "/extend", `{"leases":[{"task_id":"x","token":5}]}`, "invalid_type", "leases.token"},
			{"/api/tasks/" + task.ID + "/ack", `{}`, "invalid_required", "token"},
			{"/api/tasks/" + task.ID + "/ack", `{"token":"-1"}`, "invalid_type", "token"},
			{"/api/tasks/" + task.ID + "/ack", `{"token":"1","result":}`, "invalid_json", "body"},
			{"/api/tasks/" + task.ID + "/fail", `{"token":"1"}`, "invalid_required", "error"},
			{"/api/tasks/" + task.ID + "/fail", `{"token":"1","error":"x","retry_after":"-1s"}`, "invalid_range", "retry_after"},
			{"/api/tasks/" + task.ID + "/progress", `{"token":"1","percent":101}`, "invalid_range", "percent"},
			{"/api/tasks/" + task.ID + "/release", `{"token":""}`, "invalid_required", "token"},
			{"/api/tasks/no-such/ack", `{"token":"5"}`, "lease_lost", "token"},
		} {
			status := 400
			if c.code == "lease_lost" {
				status = 409
			}
			e.wantError(status, c.code, c.field, "POST", c.path, c.body)
		}
	})
}

// countingBackend counts the reads the worker protocol should not need.
type countingBackend struct {
	backend.Backend
	gets, workers atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, id string) (*backend.Task, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, id)
}

func (c *countingBackend) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	c.workers.Add(1)
	return c.Backend.Workers(ctx)
}

// TestWorkerProtocolBackendCalls: progress and release do not read the
// task, an ack reads it only for metrics or tracing, a fail reads it once
// (before the fail, for its type and attempts) and tells the outcome from
// it rather than reading it back; heartbeats keep the start time without
// listing the registry at every beat, and keep a started_at the worker
// sends.
func TestWorkerProtocolBackendCalls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		for _, withMetrics := range []bool{false, true} {
			b := &countingBackend{Backend: open(t)}
			opts := []envOption{withoutWorker()}
			if !withMetrics {
				opts = append(opts, withoutMetrics())
			}
			e := newEnv(t, b, opts...)
			base := "/api/workers/counted"
			for range 3 {
				e.wantStatus(200, "POST", base+"/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 1}, nil)
			}
			if n := b.workers.Load(); n > 1 {
				t.Errorf("three heartbeats listed the registry %d times, want at most once", n)
			}
			var list apiclient.WorkerList
			e.wantStatus(200, "GET", "/api/workers", nil, &list)
			first := list.Workers[0].StartedAt
			e.wantStatus(200, "POST", base+"/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 1}, nil)
			e.wantStatus(200, "GET", "/api/workers", nil, &list)
			if !list.Workers[0].StartedAt.Equal(first) {
				t.Errorf("start time moved from %s to %s", first, list.Workers[0].StartedAt)
			}
			sent := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			before := b.workers.Load()
			e.wantStatus(200, "POST", "/api/workers/sender/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 1, "started_at": sent}, nil)
			if b.workers.Load() != before {
				t.Error("a heartbeat with started_at listed the registry")
			}
			e.wantStatus(200, "GET", "/api/workers", nil, &list)
			for _, w := range list.Workers {
				if w.ID == "sender" && !w.StartedAt.Equal(sent) {
					t.Errorf("started_at sent %s, registry shows %s", sent, w.StartedAt)
				}
			}
			e.wantError(400, "invalid_range", "started_at", "POST", "/api/workers/sender/heartbeat",
				map[string]any{"queues": []string{"ext"}, "concurrency": 1, "started_at": time.Now().Add(time.Hour)})

			lease := func() apiclient.LeasedTask {
				t.Helper()
				var lr apiclient.LeaseReply
				e.wantStatus(200, "POST", base+"/lease", map[string]any{"queues": []string{"ext"}, "wait": "5s"}, &lr)
				if len(lr.Tasks) != 1 {
					t.Fatalf("lease = %+v", lr)
				}
				return lr.Tasks[0]
			}
			task := e.submit(map[string]any{"type": "resize", "queue": "ext", "max_attempts": 3})
			lt := lease()
			gets := b.gets.Load()
			path := "/api/tasks/" + task.ID
			e.wantStatus(204, "POST", path+"/progress", map[string]any{"token": lt.LeaseToken, "percent": 10}, nil)
			e.wantStatus(204, "POST", path+"/release", map[string]any{"token": lt.LeaseToken}, nil)
			if n := b.gets.Load() - gets; n != 0 {
				t.Errorf("progress and release read the task %d times", n)
			}
			lt = lease()
			gets = b.gets.Load()
			var out apiclient.AttemptOutcome
			e.wantStatus(200, "POST", path+"/fail", map[string]any{"token": lt.LeaseToken, "error": "busy", "retry_after": "1h"}, &out)
			if n := b.gets.Load() - gets; n != 1 {
				t.Errorf("a fail read the task %d times, want once", n)
			}
			stored := e.get(task.ID)
			if out.State != backend.StateRetrying || stored.State != backend.StateRetrying || out.RunAt.Sub(stored.RunAt).Abs() > time.Second {
				// The reply's run_at is the server's estimate (its clock plus
				// retry_after); the stored one is the backend's clock. Here both
				// clocks are this machine's, so they differ by the call's time.
				t.Errorf("fail reply %+v, stored %s at %s", out, stored.State, stored.RunAt)
			}
			// A retry before the deadline is a retry; one past it fails for good.
			soon := e.submit(map[string]any{"type": "resize", "queue": "ext", "max_attempts": 3, "deadline": time.Now().Add(time.Minute)})
			lt = lease()
			out = apiclient.AttemptOutcome{}
			e.wantStatus(200, "POST", "/api/tasks/"+soon.ID+"/fail", map[string]any{"token": lt.LeaseToken, "error": "busy", "retry_after": "1h"}, &out)
			if got := e.get(soon.ID); out.State != backend.StateFailed || !out.RunAt.IsZero() || got.State != backend.StateFailed {
				t.Errorf("fail past the deadline: reply %+v, stored %s", out, got.State)
			}
			// An ack reads the task only when metrics or tracing need it.
			ack := e.submit(map[string]any{"type": "resize", "queue": "ext"})
			lt = lease()
			gets = b.gets.Load()
			e.wantStatus(200, "POST", "/api/tasks/"+ack.ID+"/ack", map[string]any{"token": lt.LeaseToken, "result": 1}, &out)
			want := int64(0)
			if withMetrics {
				want = 1
			}
			if n := b.gets.Load() - gets; n != want || out.State != backend.StateCompleted || out.ID != ack.ID {
				t.Errorf("ack (metrics %v) read the task %d times, want %d; reply %+v", withMetrics, n, want, out)
			}
			e.wantError(409, "lease_lost", "token", "POST", "/api/tasks/"+ack.ID+"/ack", map[string]any{"token": lt.LeaseToken})
			if withMetrics {
				m := scrape(t, e)
				for _, line := range []string{`taskmill_tasks_retried_total{queue="ext",type="resize"} 1`, `taskmill_tasks_failed_total{queue="ext",type="resize"} 1`,
					`taskmill_tasks_completed_total{queue="ext",type="resize"} 1`} {
					if !strings.Contains(m, line) {
						t.Errorf("/metrics lacks %s", line)
					}
				}
			}
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
