package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/server"
)

func TestQueuesStatsAndHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t))
		// Work in "math" completes and fails; "idle" is paused with a task waiting.
		ok := e.submit(map[string]any{"type": "square", "queue": "math", "payload": map[string]any{"n": 2}})
		bad := e.submit(map[string]any{"type": "fail", "queue": "math", "max_attempts": 1})
		e.waitState(ok.ID, backend.StateCompleted)
		e.waitState(bad.ID, backend.StateFailed)
		var qa apiclient.QueueActionReply
		e.wantStatus(200, "POST", "/api/queues/idle/pause", nil, &qa)
		if !qa.Paused || qa.Name != "idle" {
			t.Fatalf("pause = %+v", qa)
		}
		waiting := e.submit(map[string]any{"type": "echo", "queue": "idle"})
		// Let some time pass so the waiting task has a latency of at least
		// 20 ms (a lower bound, which load can only make larger).
		time.Sleep(30 * time.Millisecond)

		var qs apiclient.QueueList
		e.wantStatus(200, "GET", "/api/queues", nil, &qs)
		byName := map[string]apiclient.QueueView{}
		for _, q := range qs.Queues {
			byName[q.Name] = q
		}
		math, idle := byName["math"], byName["idle"]
		if math.Counts[backend.StateCompleted] != 1 || math.Counts[backend.StateFailed] != 1 || math.Completed != 1 || math.Failed != 1 ||
			math.FailureRate != 0.5 || math.WindowMinutes != 5 || math.ThroughputPerMin != 2.0/5 || math.Size != 0 {
			t.Fatalf("math queue = %+v", math)
		}
		if !idle.Paused || idle.Size != 1 || idle.Counts[backend.StatePending] != 1 || idle.OldestPendingAt.IsZero() || idle.LatencyMS < 20 {
			t.Fatalf("idle queue = %+v", idle)
		}
		var one apiclient.QueueView
		e.wantStatus(200, "GET", "/api/queues/idle", nil, &one)
		if one.Name != "idle" || !one.Paused {
			t.Fatalf("GET /api/queues/idle = %+v", one)
		}
		e.wantError(404, "not_found", "", "GET", "/api/queues/nowhere", nil)
		e.wantError(400, "invalid_charset", "name", "GET", "/api/queues/a%20b", nil)
		e.wantError(400, "invalid_charset", "name", "POST", "/api/queues/a%20b/pause", nil)
		e.wantError(404, "not_found", "", "POST", "/api/queues/idle/explode", nil)
		e.wantError(405, "method_not_allowed", "", "GET", "/api/queues/idle/pause", nil)
		e.wantError(400, "invalid_unknown", "x", "GET", "/api/queues?x=1", nil)

		var st apiclient.StatsView
		e.wantStatus(200, "GET", "/api/stats", nil, &st)
		if st.Counts[backend.StateCompleted] != 1 || st.Counts[backend.StateFailed] != 1 || st.Counts[backend.StatePending] != 1 ||
			st.Total != 3 || st.Queues < 2 || st.PausedQueues != 1 || st.Workers != 1 || st.WorkerSlots != 4 ||
			st.Completed != 1 || st.Failed != 1 || st.FailureRate != 0.5 || st.LatencyMS < 20 || st.Health != "ok" || st.Backend != "test" {
			t.Fatalf("stats = %+v", st)
		}

		e.wantStatus(200, "POST", "/api/queues/idle/resume", nil, &qa)
		if qa.Paused {
			t.Fatalf("resume = %+v", qa)
		}
		e.wantStatus(200, "GET", "/api/queues/idle", nil, &one)
		if one.Paused || one.Counts[backend.StatePending] != 1 {
			t.Fatalf("idle after resume = %+v (task %s)", one, waiting.ID)
		}

		// History: sparse per minute by default, every bucket with step.
		var hv apiclient.HistoryView
		e.wantStatus(200, "GET", "/api/history?queue=math&minutes=10", nil, &hv)
		completed, failed := 0, 0
		for _, b := range hv.Buckets {
			completed += b.Completed
			failed += b.Failed
		}
		if completed != 1 || failed != 1 || hv.StepMinutes != 0 {
			t.Fatalf("math history = %+v", hv)
		}
		hv = apiclient.HistoryView{}
		e.wantStatus(200, "GET", "/api/history?minutes=30&step=5", nil, &hv)
		if hv.StepMinutes != 5 || len(hv.Buckets) < 6 || len(hv.Buckets) > 8 {
			t.Fatalf("stepped history has %d buckets: %+v", len(hv.Buckets), hv)
		}
		completed = 0
		for i, b := range hv.Buckets {
			completed += b.Completed
			if i > 0 && b.Minute.Sub(hv.Buckets[i-1].Minute) != 5*time.Minute {
				t.Fatalf("buckets not 5 minutes apart: %v then %v", hv.Buckets[i-1].Minute, b.Minute)
			}
		}
		if completed != 1 {
			t.Fatalf("stepped history counts %d completed, want 1", completed)
		}
		for _, bad := range []struct{ query, code, field string }{
			{"minutes=0", "invalid_range", "minutes"},
			{"minutes=20000", "invalid_range", "minutes"},
			{"step=0", "invalid_range", "step"},
			{"minutes=10080&step=1", "invalid_range", "step"},
			{"queue=%2F", "invalid_charset", "queue"},
			{"minute=5", "invalid_unknown", "minute"},
		} {
			e.wantError(400, bad.code, bad.field, "GET", "/api/history?"+bad.query, nil)
		}

		var types apiclient.TaskTypeList
		e.wantStatus(200, "GET", "/api/task-types", nil, &types)
		found := false
		for _, tt := range types.TaskTypes {
			if tt.Name == "square" {
				found = tt.Description == "squares n" && tt.MaxAttempts == 2 && len(tt.Schema) > 0
			}
		}
		if !found {
			t.Fatalf("task types lack square with its schema: %+v", types)
		}
	})
}

func TestWorkersEndpoints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		b := open(t)
		starter := &workerStarter{b: b}
		e := newEnv(t, b, withConfig(func(c *server.Config) { c.Workers = starter }))
		t.Cleanup(starter.stopAll)
		var list apiclient.WorkerList
		e.wantStatus(200, "GET", "/api/workers", nil, &list)
		if len(list.Workers) != 1 || list.Workers[0].ID != e.worker.ID() || list.Workers[0].Concurrency != 4 || list.Workers[0].Host == "" || list.Workers[0].PID == 0 {
			t.Fatalf("workers = %+v", list.Workers)
		}
		var started apiclient.WorkerInfo
		e.wantStatus(201, "POST", "/api/workers", map[string]any{"concurrency": 2, "queues": map[string]int{"extra": 1}}, &started)
		if started.Concurrency != 2 || started.ID == "" {
			t.Fatalf("started = %+v", started)
		}
		e.wantError(400, "invalid_range", "concurrency", "POST", "/api/workers", map[string]any{"concurrency": 0})
		e.wantError(400, "invalid_unknown", "threads", "POST", "/api/workers", map[string]any{"threads": 2})
		e.wantError(400, "invalid_type", "concurrency", "POST", "/api/workers", `{"concurrency":"2"}`)
		// An empty body starts one slot on the default queues.
		var dflt apiclient.WorkerInfo
		e.wantStatus(201, "POST", "/api/workers", "", &dflt)
		// Stop: the worker drains and leaves the registry.
		var stop apiclient.WorkerStopReply
		e.wantStatus(202, "DELETE", "/api/workers/"+started.ID, nil, &stop)
		if !stop.Stopping || stop.ID != started.ID {
			t.Fatalf("stop = %+v", stop)
		}
		starter.waitGone(t, started.ID)
		e.wantError(404, "not_found", "", "DELETE", "/api/workers/no-such-worker", nil)

		// A server without local workers says so.
		bare := newEnv(t, b, withoutWorker())
		bare.wantError(409, "no_local_workers", "", "POST", "/api/workers", map[string]any{"concurrency": 1})
	})
}

// workerStarter is a real server.WorkerStarter: taskmill.Workers in the
// test process.
type workerStarter struct {
	b       backend.Backend
	workers []*workerHandle
}

type workerHandle struct {
	id   string
	done <-chan struct{}
	stop func()
}

func (s *workerStarter) StartWorker(ctx context.Context, concurrency int, queues map[string]int) (backend.WorkerInfo, error) {
	w, err := newTestWorker(s.b, concurrency, queues)
	if err != nil {
		return backend.WorkerInfo{}, err
	}
	s.workers = append(s.workers, &workerHandle{id: w.ID(), done: w.Done(), stop: func() { w.Stop(context.Background()) }})
	return backend.WorkerInfo{ID: w.ID(), Concurrency: concurrency, Queues: []string{}, Running: []string{}, StartedAt: time.Now().UTC()}, nil
}

func (s *workerStarter) waitGone(t *testing.T, id string) {
	t.Helper()
	for _, w := range s.workers {
		if w.id == id {
			select {
			case <-w.done:
				return
			case <-time.After(30 * time.Second):
				t.Fatalf("worker %s did not stop after DELETE", id)
			}
		}
	}
	t.Fatalf("no worker %s", id)
}

func (s *workerStarter) stopAll() {
	for _, w := range s.workers {
		w.stop()
	}
}
