package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashDuringSubmitsLosesNothing: a server with no workers takes
// thousands of concurrent submits and is killed with SIGKILL while they
// stream in. After a restart every id it returned exists, and no submit
// was stored twice.
func TestCrashDuringSubmitsLosesNothing(t *testing.T) {
	dir := t.TempDir()
	p, base := startServe(t, "serve-1", dir, "--workers", "0")

	const submitters, killAfter = 32, 3000
	var (
		mu       sync.Mutex
		acked    = map[string]int{} // id → the submit's sequence number
		attempts atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	killed := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				seq := w*1_000_000 + i
				attempts.Add(1)
				resp, err := client.Post(base+"/api/tasks", "application/json",
					strings.NewReader(fmt.Sprintf(`{"type":"echo","payload":{"seq":%d}}`, seq)))
				if err != nil {
					return // the server is gone
				}
				var created struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&created)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					select {
					case <-killed:
						return
					default:
						t.Errorf("submit %d: status %d, %v", seq, resp.StatusCode, err)
						return
					}
				}
				mu.Lock()
				acked[created.ID] = seq
				n := len(acked)
				mu.Unlock()
				if n == killAfter {
					p.Kill() // SIGKILL, with the other submitters mid-request
					close(killed)
				}
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(5 * time.Minute):
		t.Fatal("the server did not acknowledge enough submits in 5 minutes")
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	_, base = startServe(t, "serve-2", dir, "--workers", "0")
	all := listAll(t, base)
	bySeq := map[int]string{}
	stored := map[string]bool{}
	for _, tk := range all {
		var p struct{ Seq int }
		if err := json.Unmarshal(tk.Payload, &p); err != nil {
			t.Fatalf("task %s payload %s: %v", tk.ID, tk.Payload, err)
		}
		if other, dup := bySeq[p.Seq]; dup {
			t.Fatalf("submit %d stored twice: %s and %s", p.Seq, other, tk.ID)
		}
		bySeq[p.Seq] = tk.ID
		stored[tk.ID] = true
	}
	for id, seq := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged task %s (submit %d) is missing after the crash", id, seq)
		}
		if bySeq[seq] != id {
			t.Fatalf("submit %d stored as %s, acknowledged as %s", seq, bySeq[seq], id)
		}
	}
	if int64(len(all)) > attempts.Load() {
		t.Fatalf("%d tasks stored from %d submits", len(all), attempts.Load())
	}
	t.Logf("%d submits acknowledged before SIGKILL, %d stored (the rest were in flight), %d attempted", len(acked), len(all), attempts.Load())
}

// TestCrashWhileRunningRerunsTasks kills a server while its workers run
// tasks. After a restart the tasks that were running run again, with the
// lost attempt recorded, and every task completes.
func TestCrashWhileRunningRerunsTasks(t *testing.T) {
	dir := t.TempDir()
	p, base := startServe(t, "serve-1", dir, "--workers", "4")
	const n = 12
	ids := make([]string, n)
	for i := range ids {
		var created task
		if code := call(t, "POST", base+"/api/tasks", `{"type":"sleep","payload":{"ms":3000}}`, &created); code != http.StatusCreated {
			t.Fatalf("submit: status %d", code)
		}
		ids[i] = created.ID
	}
	// Wait until the four slots are busy, then kill mid-run.
	running := map[string]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(running) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d tasks processing after a minute", len(running))
		}
		for _, id := range ids {
			var tk task
			call(t, "GET", base+"/api/tasks/"+id, "", &tk)
			if tk.State == "processing" {
				running[id] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()

	_, base = startServe(t, "serve-2", dir, "--workers", "4")
	for _, id := range ids {
		done := waitTask(t, base, id, "completed", func(tk task) bool { return tk.State == "completed" })
		if running[id] {
			// Crash is not failure: the lost attempt is recorded but not
			// spent, so the rerun is attempt 1 again.
			if done.Attempt != 1 || len(done.Attempts) < 2 || done.Attempts[0].Outcome != "lease_expired" {
				t.Errorf("task %s was running at the kill: attempt %d, attempts %+v; want the lost attempt recorded, not spent, and a rerun",
					id, done.Attempt, done.Attempts)
			}
		}
	}
}

// TestServeDrainsOnSIGTERM: SIGTERM stops taking work, lets a running
// task finish, and exits 0; nothing is left processing.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	p, base := startServe(t, "serve-1", dir, "--workers", "1")
	var created task
	call(t, "POST", base+"/api/tasks", `{"type":"sleep","payload":{"ms":1500}}`, &created)
	waitTask(t, base, created.ID, "processing", func(tk task) bool { return tk.State == "processing" })
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	_, base = startServe(t, "serve-2", dir, "--workers", "0")
	var after task
	call(t, "GET", base+"/api/tasks/"+created.ID, "", &after)
	if after.State != "completed" || after.Attempt != 1 {
		t.Fatalf("task after a graceful stop: %s, attempt %d; want completed by the first attempt", after.State, after.Attempt)
	}
}
