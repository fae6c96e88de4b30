package server_test

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestBackendDownAnswers503 repeats #11's outage: Redis killed (SIGKILL)
// and Redis stopped (SIGSTOP). Every request must answer 503 unavailable
// with Retry-After within the backend timeout (2s) plus a margin for a
// loaded machine, and the server must answer 200 again by itself once
// Redis is back.
func TestBackendDownAnswers503(t *testing.T) {
	rs := testredis.Start(t, testredis.Options{AOF: true}) // the task survives the kill
	b, err := redis.Open(context.Background(), rs.URL()+"?prefix=down", redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := newEnv(t, b, withoutWorker(), withoutMetrics())

	var task apiclient.Task
	if st, _ := e.do("POST", "/api/tasks", map[string]any{"type": "echo"}, &task); st != 201 {
		t.Fatalf("submit = %d", st)
	}
	reads := []string{"/api/tasks", "/api/tasks/" + task.ID, "/api/queues", "/api/stats", "/api/workers"}
	// The bound the test checks: the 2s backend timeout plus 2s for a
	// loaded machine to schedule the answer.
	const bound = 4 * time.Second

	unavailable := func(phase string) {
		t.Helper()
		for _, path := range reads {
			start := time.Now()
			st, h := e.do("GET", path, nil, nil)
			took := time.Since(start)
			t.Logf("%s: GET %s = %d in %s", phase, path, st, took.Round(time.Millisecond))
			if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
				t.Errorf("%s: GET %s = %d (Retry-After %q), want 503 with Retry-After", phase, path, st, h.Get("Retry-After"))
			}
			if took > bound {
				t.Errorf("%s: GET %s took %s, want at most %s", phase, path, took, bound)
			}
		}
		start := time.Now()
		st, h := e.do("POST", "/api/tasks", map[string]any{"type": "echo"}, nil)
		took := time.Since(start)
		t.Logf("%s: POST /api/tasks = %d in %s", phase, st, took.Round(time.Millisecond))
		if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || took > bound {
			t.Errorf("%s: POST /api/tasks = %d (Retry-After %q) in %s, want 503 with Retry-After within %s", phase, st, h.Get("Retry-After"), took, bound)
		}
		start = time.Now()
		st, _ = e.do("GET", "/readyz", nil, nil)
		if took := time.Since(start); st != http.StatusServiceUnavailable || took > bound {
			t.Errorf("%s: /readyz = %d in %s, want 503 within %s", phase, st, took, bound)
		}
	}
	recovered := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for _, path := range append(reads, "/readyz") {
			for {
				st, _ := e.do("GET", path, nil, nil)
				if st == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: GET %s = %d 30s after Redis came back", phase, path, st)
				}
				time.Sleep(100 * time.Millisecond) // polling for the recovery
			}
		}
		if st, _ := e.do("POST", "/api/tasks", map[string]any{"type": "echo"}, nil); st != 201 {
			t.Fatalf("%s: submit = %d after recovery", phase, st)
		}
	}

	rs.Kill() // SIGKILL
	unavailable("killed")
	rs.Restart()
	recovered("restarted")

	pid := rs.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	unavailable("stopped")
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	recovered("continued")
}
