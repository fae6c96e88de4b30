package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/internal/testredis"
)

// requireNode returns the node binary, skipping loudly without one, or
// failing when CI is set (.ci/run installs node).
func requireNode(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatal("node is not installed but CI is set: the Node worker test must run here")
	}
	fmt.Fprintln(os.Stderr, "!! SKIPPING the Node.js worker test: node is not installed")
	t.Skip("node is not installed")
	return ""
}

// nodeWorker is a running examples/node-worker process.
type nodeWorker struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
	err    error
}

func startNodeWorker(t *testing.T, serverURL, token, id string, env ...string) *nodeWorker {
	t.Helper()
	script, err := filepath.Abs("../../examples/node-worker/worker.mjs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(requireNode(t), script)
	cmd.Env = append(os.Environ(), "TASKMILL_SERVER="+serverURL, "TASKMILL_TOKEN="+token, "WORKER_ID="+id, "QUEUES=node", "LEASE_FOR=3", "CONCURRENCY=3", "SHUTDOWN_TIMEOUT=5")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &nodeWorker{cmd: cmd, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			w.mu.Lock()
			w.out.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
		}
		w.err = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-w.exited
		if t.Failed() {
			t.Logf("output of node worker %s:\n%s", id, w.output())
		}
	})
	return w
}

func (w *nodeWorker) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// waitFor polls cond every 50ms for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNodeWorkerEndToEnd: a worker written in Node.js, with no library
// and no dependency, runs tasks of types only it handles, through the HTTP
// worker protocol with a worker-role key; killed, its leases are reclaimed;
// asked to stop through the API, it drains and exits.
func TestNodeWorkerEndToEnd(t *testing.T) {
	requireNode(t)
	keys := []string{"--api-key", "ops:admin:" + nodeAdminKey, "--api-key", "node:worker:" + nodeWorkerKey}
	t.Run("embedded", func(t *testing.T) { nodeWorkerScenario(t, startCLIServer(t, keys...)) })
	t.Run("redis", func(t *testing.T) {
		redis := testredis.Start(t, testredis.Options{})
		nodeWorkerScenario(t, startCLIServer(t, append(keys, "--backend", redis.URL())...))
	})
}

const nodeAdminKey, nodeWorkerKey = "admin-token-0123456789", "worker-token-0123456789"

func nodeWorkerScenario(t *testing.T, s *cliServer) {
	const admin, worker = nodeAdminKey, nodeWorkerKey
	client, err := apiclient.New(s.url, admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nw := startNodeWorker(t, s.url, worker, "node-e2e")
	waitFor(t, "the node worker to register", func() bool {
		ws, err := client.Workers(ctx)
		for _, w := range ws {
			if w.ID == "node-e2e" && len(w.Types) == 4 && w.Concurrency == 3 {
				return err == nil
			}
		}
		return false
	})

	// The server accepts these types only because the node worker advertises them.
	submit := func(typ, payload string, extra func(*apiclient.TaskRequest)) *apiclient.Task {
		req := apiclient.TaskRequest{Type: typ, Queue: "node", Payload: json.RawMessage(payload)}
		if extra != nil {
			extra(&req)
		}
		task, err := client.Submit(ctx, req)
		if err != nil {
			t.Fatalf("submit %s: %v", typ, err)
		}
		return task
	}
	reverse := submit("node:reverse", `{"text":"taskmill"}`, nil)
	count := submit("node:wordcount", `{"text":"one two three"}`, nil)
	slow := submit("node:slow", `{"steps":4,"step_ms":100}`, nil)
	failing := submit("node:fail", `{"message":"boom"}`, func(r *apiclient.TaskRequest) { r.MaxAttempts = 2 })
	final := submit("node:fail", `{"message":"bad input","final":true}`, func(r *apiclient.TaskRequest) { r.MaxAttempts = 5 })
	badPayload := submit("node:reverse", `{"text":42}`, nil)

	wait := func(id string) *apiclient.Task {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		task, err := client.WaitTask(wctx, id, 100*time.Millisecond, nil)
		if err != nil {
			t.Fatalf("wait for %s: %v", id, err)
		}
		return task
	}
	if got := wait(reverse.ID); got.State != "completed" || string(got.Result) != `{"reversed":"llimksat","by":"node"}` || got.Attempts[0].WorkerID != "node-e2e" {
		t.Fatalf("node:reverse = %+v", got)
	}
	if got := wait(count.ID); got.State != "completed" || string(got.Result) != `{"words":3,"chars":13}` {
		t.Fatalf("node:wordcount = %+v", got)
	}
	if got := wait(slow.ID); got.State != "completed" || got.Progress == nil || got.Progress.Percent != 100 {
		t.Fatalf("node:slow = %+v", got)
	}
	if got := wait(failing.ID); got.State != "failed" || len(got.Attempts) != 2 || got.LastError != "boom" {
		t.Fatalf("node:fail with retries = %+v", got)
	}
	if got := wait(final.ID); got.State != "failed" || len(got.Attempts) != 1 {
		t.Fatalf("node:fail final = %+v", got)
	}
	if got := wait(badPayload.ID); got.State != "failed" || len(got.Attempts) != 1 || !strings.Contains(got.LastError, "payload.text") {
		t.Fatalf("node:reverse with a bad payload = %+v", got)
	}

	// Kill the worker mid-task: its lease runs out and the task goes back
	// to pending (no other worker takes from "node"), with the attempt
	// recorded as lease_expired.
	long := submit("node:slow", `{"steps":600,"step_ms":100}`, nil)
	waitFor(t, "the long task to start on the node worker", func() bool {
		got, err := client.GetTask(ctx, long.ID)
		return err == nil && got.State == "processing" && got.Progress != nil
	})
	if err := syscall.Kill(-nw.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nw.exited
	waitFor(t, "the dead worker's lease to be reclaimed", func() bool {
		got, err := client.GetTask(ctx, long.ID)
		return err == nil && got.State == "pending" && len(got.Attempts) == 1 && got.Attempts[0].Outcome == "lease_expired"
	})

	// A new node worker picks the task up; asked to stop through the API
	// it hands the task back (uncounted), leaves the registry and exits 0.
	nw2 := startNodeWorker(t, s.url, worker, "node-e2e-2")
	waitFor(t, "the second worker to take the task", func() bool {
		got, err := client.GetTask(ctx, long.ID)
		return err == nil && got.State == "processing" && got.WorkerID == "node-e2e-2"
	})
	cli(t, "worker", "stop", "node-e2e-2", "--server", s.url, "--token", admin).want(t, 0)
	select {
	case <-nw2.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the node worker did not exit after a stop request")
	}
	if nw2.err != nil {
		t.Fatalf("the node worker exited with %v", nw2.err)
	}
	got, err := client.GetTask(ctx, long.ID)
	if err != nil || got.State != "pending" || got.Attempts[len(got.Attempts)-1].Outcome != "released" {
		t.Fatalf("after a graceful stop the task = %+v (%v)", got, err)
	}
	ws, _ := client.Workers(ctx)
	for _, w := range ws {
		if strings.HasPrefix(w.ID, "node-e2e") {
			t.Fatalf("a stopped node worker is still registered: %+v", w)
		}
	}
	// The worker key may not do more than the worker protocol.
	req, _ := http.NewRequest("GET", s.url+"/api/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+worker)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("GET /api/tasks with a worker key = %d", resp.StatusCode)
	}
}
