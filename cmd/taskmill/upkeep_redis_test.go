package main_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testproc"
	"github.com/taskmill/taskmill/internal/testredis"
)

// These tests are issue #10's done-when checks for the runtime: real
// processes of the real binary around a real redis-server, killed with
// SIGKILL.

// defaultLease is the workers' lease duration when no flag sets it.
const defaultLease = 15 * time.Second

// rmpHolding counts the processing tasks a worker holds.
func rmpHolding(t *testing.T, base, worker string) int {
	t.Helper()
	var page struct {
		Tasks []struct {
			WorkerID string `json:"worker_id"`
		} `json:"tasks"`
	}
	if code, err := rmpDo("GET", base+"/api/tasks?state=processing&limit=1000", "", &page); err != nil || code != 200 {
		t.Fatalf("list processing tasks: %d %v", code, err)
	}
	n := 0
	for _, tk := range page.Tasks {
		if tk.WorkerID == worker {
			n++
		}
	}
	return n
}

// TestRedisFibonacciWorkerKilledNothingDeadLettered: two `taskmill worker`
// processes run 2000 fibonacci tasks submitted with default options (the
// CPU types default to one attempt); one worker is killed with SIGKILL
// mid-run. All 2000 complete, none is dead-lettered, and each task the
// dead worker held starts again within the lease duration plus 2 s of the
// kill (read from the attempts' timestamps, which Redis's clock wrote).
func TestRedisFibonacciWorkerKilledNothingDeadLettered(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	serve := testproc.Start(t, "serve", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--backend", srv.URL(), "--workers", "0")
	base := serve.URL()
	var workers []*testproc.Proc
	for i := range 2 {
		id := fmt.Sprintf("w%d", i)
		workers = append(workers, testproc.Start(t, id, "worker", "--backend", srv.URL(), "--id", id, "--data", t.TempDir()))
	}
	rmpWait(t, "both workers registered", 30*time.Second, func() bool { return len(rmpWorkers(t, base)) == 2 })

	const n = 2000
	ids := rmpSubmit(t, base, n, `{"type":"fibonacci","payload":{"n":30000}}`)
	if len(ids) != n {
		t.Fatalf("%d of %d submits acknowledged", len(ids), n)
	}
	rmpWait(t, "w0 running tasks, some done", 120*time.Second, func() bool {
		return rmpCounts(t, base)["completed"] >= 50 && rmpHolding(t, base, "w0") > 0
	})
	workers[0].Kill() // SIGKILL: no drain, no release, no unregister
	killedAt := time.Now()

	rmpWait(t, "every task completed", 300*time.Second, func() bool {
		c := rmpCounts(t, base)
		return c["completed"]+c["failed"] == n
	})
	if c := rmpCounts(t, base); c["failed"] != 0 || c["completed"] != n {
		t.Fatalf("counts after the run: %v; want all %d completed, none failed", c, n)
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
			if a.Outcome != "lease_expired" || i+1 >= len(tk.Attempts) {
				t.Fatalf("task %s: the dead worker's attempt %+v is not followed by a re-run: %+v", id, a, tk.Attempts)
			}
			again := tk.Attempts[i+1].StartedAt.Sub(killedAt)
			if again > defaultLease+2*time.Second {
				t.Errorf("task %s started again %v after the kill (lease %v + 2s)", id, again, defaultLease)
			}
			rerun++
			slowest = max(slowest, again)
		}
	}
	if rerun == 0 {
		t.Fatal("the killed worker held no task: the test did not kill mid-run")
	}
	t.Logf("%d tasks of the killed worker started again, the last %v after the kill (lease %v)", rerun, slowest, defaultLease)
}

// TestRedisScheduleOneTaskPerFiringAcrossLeaderKill: three `taskmill
// serve` processes on one Redis run a schedule firing every second; the
// upkeep leader fires it. The leader is killed with SIGKILL and another
// takes over. Every firing time in the window, before, during and after
// the change, has exactly one task: none missed (the new leader catches
// up), none doubled (unique keys, fenced terms). Real time passes here
// (three real processes, a 60 s window), but only counts are asserted.
func TestRedisScheduleOneTaskPerFiringAcrossLeaderKill(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	file := filepath.Join(t.TempDir(), "schedules.json")
	if err := os.WriteFile(file, []byte(`[{"name":"tick","spec":"@every 1s","task":{"type":"fibonacci","queue":"ticks","payload":{"n":1}}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var serves []*testproc.Proc
	for i := range 3 {
		serves = append(serves, testproc.Start(t, fmt.Sprintf("serve%d", i), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
			"--backend", srv.URL(), "--workers", "0", "--lease-duration", "3s", "--schedules", file))
	}
	var leader *testproc.Proc
	rmpWait(t, "a leader", 30*time.Second, func() bool {
		for _, p := range serves {
			if strings.Contains(p.Output(), "upkeep leadership taken") {
				leader = p
				return true
			}
		}
		return false
	})
	// Ask a server that stays up.
	base := serves[0].URL()
	if leader == serves[0] {
		base = serves[1].URL()
	}
	firings := func() map[int64]int {
		out := map[int64]int{}
		cursor := ""
		for {
			var page struct {
				Tasks []struct {
					UniqueKey string `json:"unique_key"`
				} `json:"tasks"`
				NextCursor string `json:"next_cursor"`
			}
			q := url.Values{"queue": {"ticks"}, "limit": {"1000"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if code, err := rmpDo("GET", base+"/api/tasks?"+q.Encode(), "", &page); err != nil || code != 200 {
				t.Fatalf("list ticks: %d %v", code, err)
			}
			for _, tk := range page.Tasks {
				sec, err := strconv.ParseInt(strings.TrimPrefix(tk.UniqueKey, "schedule:tick:"), 10, 64)
				if err != nil {
					t.Fatalf("scheduled task with unique key %q", tk.UniqueKey)
				}
				out[sec]++
			}
			if page.NextCursor == "" {
				return out
			}
			cursor = page.NextCursor
		}
	}
	latest := func(f map[int64]int) int64 {
		var m int64
		for s := range f {
			m = max(m, s)
		}
		return m
	}
	rmpWait(t, "five firings", 60*time.Second, func() bool { return len(firings()) >= 5 })
	// The window: 15 s under the first leader, the kill, 45 s after it.
	from := latest(firings())
	rmpWait(t, "15 s of firings", 90*time.Second, func() bool { return latest(firings()) >= from+15 })
	leader.Kill()
	killedAt := time.Now().Unix()
	var f map[int64]int
	rmpWait(t, "firings 45 s past the kill", 180*time.Second, func() bool {
		f = firings()
		return latest(f) >= killedAt+45
	})
	to := latest(f)
	for s := from; s <= to; s++ {
		if f[s] != 1 {
			t.Errorf("firing at %s made %d tasks, want 1", time.Unix(s, 0).UTC().Format(time.TimeOnly), f[s])
		}
	}
	t.Logf("%d firings from %s to %s, the leader killed at %s: one task each unless reported",
		to-from+1, time.Unix(from, 0).UTC().Format(time.TimeOnly), time.Unix(to, 0).UTC().Format(time.TimeOnly), time.Unix(killedAt, 0).UTC().Format(time.TimeOnly))
	took := 0
	for _, p := range serves {
		if p != leader && strings.Contains(p.Output(), "upkeep leadership taken") {
			took++
		}
	}
	if took == 0 {
		t.Errorf("no other server took the leadership after the kill")
	}
}
