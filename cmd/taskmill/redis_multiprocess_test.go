package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testproc"
	"github.com/taskmill/taskmill/internal/testredis"
)

// These tests run the real binary as separate processes around a real
// redis-server: one `serve --workers 0` and several `taskmill worker`s,
// talking to each other only through Redis, as on many machines.

var rmpClient = &http.Client{Timeout: 10 * time.Second}

type rmpAttempt struct {
	Number     int       `json:"number"`
	WorkerID   string    `json:"worker_id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    string    `json:"outcome"`
}

type rmpTask struct {
	ID       string       `json:"id"`
	State    string       `json:"state"`
	Attempts []rmpAttempt `json:"attempts"`
}

func rmpDo(method, url, body string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rmpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// rmpSubmit posts n tasks from 16 clients and returns the ids the server
// acknowledged (201).
func rmpSubmit(t *testing.T, base string, n int, body string) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				var created rmpTask
				code, err := rmpDo("POST", base+"/api/tasks", body, &created)
				if err != nil || code != http.StatusCreated {
					t.Errorf("submit: %d %v", code, err)
					return
				}
				mu.Lock()
				ids = append(ids, created.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids
}

func rmpCounts(t *testing.T, base string) map[string]int {
	t.Helper()
	var qs struct {
		Queues []struct {
			Name   string         `json:"name"`
			Counts map[string]int `json:"counts"`
		} `json:"queues"`
	}
	if code, err := rmpDo("GET", base+"/api/queues", "", &qs); err != nil || code != 200 {
		return nil
	}
	for _, q := range qs.Queues {
		if q.Name == "default" {
			return q.Counts
		}
	}
	return map[string]int{}
}

func rmpWorkers(t *testing.T, base string) map[string]bool {
	t.Helper()
	var ws struct {
		Workers []struct {
			ID string `json:"id"`
		} `json:"workers"`
	}
	if code, err := rmpDo("GET", base+"/api/workers", "", &ws); err != nil || code != 200 {
		t.Fatalf("GET /api/workers: %d %v", code, err)
	}
	out := map[string]bool{}
	for _, w := range ws.Workers {
		out[w.ID] = true
	}
	return out
}

// rmpWait polls cond every 50ms until it holds or the timeout passes.
func rmpWait(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rmpGet(t *testing.T, base, id string) (rmpTask, int) {
	var tk rmpTask
	code, err := rmpDo("GET", base+"/api/tasks/"+id, "", &tk)
	if err != nil {
		t.Fatalf("GET task %s: %v", id, err)
	}
	return tk, code
}

const rmpLease = 2 * time.Second

// startRedisProcesses starts, around the one redis-server srv, a `serve
// --workers 0` and the given number of `taskmill worker` processes, and
// waits until every worker is registered.
func startRedisProcesses(t *testing.T, srv *testredis.Server, workers int) (base string, procs []*testproc.Proc) {
	t.Helper()
	serve := testproc.Start(t, "serve", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--backend", srv.URL(), "--workers", "0", "--lease-duration", rmpLease.String())
	base = serve.URL()
	for i := range workers {
		id := fmt.Sprintf("w%d", i)
		procs = append(procs, testproc.Start(t, id, "worker", "--backend", srv.URL(), "--id", id,
			"--concurrency", "20", "--lease-duration", rmpLease.String(), "--data", t.TempDir()))
	}
	rmpWait(t, "all workers registered", 30*time.Second, func() bool { return len(rmpWorkers(t, base)) == workers })
	return base, procs
}

// TestRedisWorkerKilledMidRun: three worker processes share 1,000 sleep
// tasks; one is killed with SIGKILL mid-run. Every task completes, the
// tasks the dead worker held run again within the lease duration plus a
// few seconds, and the dead worker leaves the registry.
func TestRedisWorkerKilledMidRun(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	base, workers := startRedisProcesses(t, srv, 3)
	const n = 1000
	ids := rmpSubmit(t, base, n, `{"type":"sleep","payload":{"ms":150}}`)
	if len(ids) != n {
		t.Fatalf("%d of %d submits acknowledged", len(ids), n)
	}
	rmpWait(t, "a quarter of the tasks done", 60*time.Second, func() bool { return rmpCounts(t, base)["completed"] >= n/4 })
	victim := workers[0]
	victim.Kill() // SIGKILL: no drain, no unregister
	killedAt := time.Now()

	rmpWait(t, "every task completed", 120*time.Second, func() bool { return rmpCounts(t, base)["completed"] == n })
	c := rmpCounts(t, base)
	if c["failed"] != 0 || c["pending"] != 0 || c["processing"] != 0 || c["retrying"] != 0 {
		t.Fatalf("counts after the run: %v", c)
	}
	rerun, slowest := 0, time.Duration(0)
	for _, id := range ids {
		tk, code := rmpGet(t, base, id)
		if code != 200 || tk.State != "completed" {
			t.Fatalf("task %s: %d %s", id, code, tk.State)
		}
		for i, a := range tk.Attempts {
			if a.WorkerID != "w0" || a.Outcome == "completed" {
				continue
			}
			// An attempt the dead worker never finished. It was reclaimed
			// (back to pending) within the lease plus slack for the
			// reclaim loop (every second) and a loaded machine; the re-run
			// then waits its turn behind the tasks already pending, so its
			// start gets a looser bound.
			if a.Outcome != "lease_expired" || i+1 >= len(tk.Attempts) {
				t.Fatalf("task %s: dead worker's attempt %+v not followed by a re-run: %+v", id, a, tk.Attempts)
			}
			if late := a.FinishedAt.Sub(killedAt); late > rmpLease+4*time.Second {
				t.Fatalf("task %s was reclaimed %v after the kill (lease %v)", id, late, rmpLease)
			}
			if late := tk.Attempts[i+1].StartedAt.Sub(killedAt); late > rmpLease+20*time.Second {
				t.Fatalf("task %s re-ran %v after the kill (lease %v)", id, late, rmpLease)
			}
			rerun++
			if d := tk.Attempts[i+1].StartedAt.Sub(killedAt); d > slowest {
				slowest = d
			}
		}
	}
	if rerun == 0 {
		t.Fatalf("the killed worker held no task: the test did not kill mid-run")
	}
	t.Logf("%d tasks of the killed worker ran again, the last %v after the kill", rerun, slowest)
	rmpWait(t, "the dead worker gone from the registry", rmpLease+5*time.Second, func() bool {
		w := rmpWorkers(t, base)
		return !w["w0"] && w["w1"] && w["w2"]
	})
}

// TestRedisRestartMidRun: Redis (AOF, appendfsync always) is killed and
// restarted while tasks are submitted and run. The processes reconnect by
// themselves, every submit that was acknowledged completes, and nothing
// that was completed before the crash is lost.
func TestRedisRestartMidRun(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{AOF: true})
	base, _ := startRedisProcesses(t, srv, 3)
	const n = 1000
	ids := rmpSubmit(t, base, n/2, `{"type":"sleep","payload":{"ms":50}}`)
	rmpWait(t, "some tasks done", 60*time.Second, func() bool { return rmpCounts(t, base)["completed"] >= n/10 })
	before := rmpCounts(t, base)["completed"]

	// Keep submitting through the restart, and on after it until n
	// tasks were acknowledged; only acknowledged ids count.
	var mu sync.Mutex
	restarted := make(chan struct{})
	afterRestart, refused := 0, 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var created rmpTask
				code, err := rmpDo("POST", base+"/api/tasks", `{"type":"sleep","payload":{"ms":50}}`, &created)
				mu.Lock()
				ok := err == nil && code == http.StatusCreated
				if ok {
					ids = append(ids, created.ID)
				} else {
					refused++
				}
				select {
				case <-restarted:
					if ok {
						afterRestart++
					}
				default:
				}
				done := len(ids) >= n && afterRestart >= 100
				mu.Unlock()
				if done {
					return
				}
				if !ok {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	oldPID := srv.PID()
	srv.Restart() // SIGKILL, then start again on the same AOF
	if srv.PID() == oldPID || srv.PID() == 0 {
		t.Fatalf("redis-server was not restarted (pid %d → %d)", oldPID, srv.PID())
	}
	close(restarted)
	wg.Wait()
	mu.Lock()
	acked := append([]string(nil), ids...)
	mu.Unlock()
	t.Logf("%d submits acknowledged (%d after the restart, %d refused while Redis was down); %d tasks were completed at the restart",
		len(acked), afterRestart, refused, before)

	rmpWait(t, "the processes reconnected", 30*time.Second, func() bool { return rmpCounts(t, base) != nil })
	if after := rmpCounts(t, base)["completed"]; after < before {
		t.Fatalf("completed count fell from %d to %d across the restart", before, after)
	}
	// A submit refused while Redis went down may still have been stored:
	// the completed count can reach the acknowledged ones while one of
	// those still waits for its lease to run out. Wait for the queue to
	// be drained.
	rmpWait(t, "every acknowledged task completed", 120*time.Second, func() bool {
		c := rmpCounts(t, base)
		return c["completed"] >= len(acked) && c["pending"] == 0 && c["processing"] == 0 && c["retrying"] == 0
	})
	for _, id := range acked {
		tk, code := rmpGet(t, base, id)
		if code != 200 || tk.State != "completed" {
			t.Fatalf("acknowledged task %s after the restart: status %d, state %q", id, code, tk.State)
		}
	}
}
