package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/internal/testproc"
	"github.com/taskmill/taskmill/internal/testredis"
)

// The CLI tests run the commands through Run against a real `taskmill
// serve` process, as a user's shell would.

type cliResult struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := Run(ctx, args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func (r cliResult) want(t *testing.T, code int, args ...string) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("taskmill %s exited %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// run runs the CLI with --server (and more) and checks the exit code.
func (s *cliServer) run(t *testing.T, code int, args ...string) cliResult {
	t.Helper()
	full := append(append([]string(nil), args...), "--server", s.url)
	return cli(t, full...).want(t, code, full...)
}

type cliServer struct {
	url  string
	proc *testproc.Proc
}

func startCLIServer(t *testing.T, extra ...string) *cliServer {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--workers", "2", "--lease-duration", "2s"}, extra...)
	p := testproc.Start(t, "serve", args...)
	return &cliServer{url: p.URL(), proc: p}
}

func TestCLIAgainstARealServer(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { cliScenario(t, startCLIServer(t)) })
	t.Run("redis", func(t *testing.T) {
		redis := testredis.Start(t, testredis.Options{})
		cliScenario(t, startCLIServer(t, "--backend", redis.URL()))
	})
}

func cliScenario(t *testing.T, s *cliServer) {

	// submit --wait prints the result and exits 0.
	r := s.run(t, 0, "submit", "echo", `{"hello":"world"}`, "--wait")
	if !strings.Contains(r.stdout, `"hello":"world"`) || !strings.Contains(r.stderr, "completed") {
		t.Fatalf("submit --wait: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// --json prints the stored task; flags may come before the arguments.
	r = s.run(t, 0, "submit", "--json", "--queue", "default", "--priority", "7", "fibonacci", `{"n":20}`)
	var task apiclient.Task
	if err := json.Unmarshal([]byte(r.stdout), &task); err != nil || task.ID == "" || task.Priority != 7 {
		t.Fatalf("submit --json: %v %s", err, r.stdout)
	}
	// A failing task under --wait exits 1 and says why.
	r = s.run(t, 1, "submit", "sleep", `{"ms":1,"fail":true}`, "--max-attempts", "1", "--wait")
	if !strings.Contains(r.stderr, "failed after 1 attempt") {
		t.Fatalf("failing --wait stderr: %s", r.stderr)
	}
	// --wait-timeout gives up with 6 and leaves the task running.
	r = s.run(t, 6, "submit", "sleep", `{"ms":3000}`, "--wait", "--wait-timeout", "300ms")
	if !strings.Contains(r.stderr, "did not finish within 300ms") {
		t.Fatalf("--wait-timeout stderr: %s", r.stderr)
	}
	// Bad input: exit 2, locally or from the server, naming the field.
	s.run(t, 2, "submit")
	s.run(t, 2, "submit", "echo", `{not json`)
	s.run(t, 2, "submit", "echo", "--priority", "5000")
	s.run(t, 2, "submit", "echo", "--run-at", "tomorrow")
	s.run(t, 2, "submit", "echo", "--bogus")
	r = s.run(t, 2, "submit", "fibonacci", `{"n":-1}`)
	if !strings.Contains(r.stderr, "payload.n") {
		t.Fatalf("server-side validation error does not name the field: %s", r.stderr)
	}

	// task get / ls.
	r = s.run(t, 0, "task", "get", task.ID)
	if !strings.Contains(r.stdout, "fibonacci") || !strings.Contains(r.stdout, "ATTEMPT") || !strings.Contains(r.stdout, "state") {
		t.Fatalf("task get: %s", r.stdout)
	}
	r = s.run(t, 0, "task", "get", task.ID, "--json")
	var got apiclient.Task
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != task.ID {
		t.Fatalf("task get --json: %v %s", err, r.stdout)
	}
	s.run(t, 3, "task", "get", "no-such-task")
	s.run(t, 2, "task", "get")
	r = s.run(t, 0, "task", "ls", "--state", "failed")
	if !strings.Contains(r.stdout, "sleep") || strings.Contains(r.stdout, "fibonacci") {
		t.Fatalf("task ls --state failed:\n%s", r.stdout)
	}
	r = s.run(t, 0, "task", "ls", "--json", "--limit", "1", "--all")
	var page apiclient.TaskList
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Tasks) < 4 {
		t.Fatalf("task ls --all --json: %v, %d tasks", err, len(page.Tasks))
	}
	s.run(t, 2, "task", "ls", "--limit", "0")
	s.run(t, 2, "task", "ls", "--state", "done")
	s.run(t, 2, "task", "frobnicate")

	// cancel / retry / delete by id, and by filter.
	r = s.run(t, 0, "submit", "echo", "--delay", "1h", "--queue", "parked") // no worker takes from parked
	later := strings.TrimSpace(r.stdout)
	r = s.run(t, 0, "task", "cancel", later)
	if !strings.Contains(r.stdout, "canceled") {
		t.Fatalf("task cancel: %s", r.stdout)
	}
	s.run(t, 5, "task", "cancel", later)
	s.run(t, 0, "task", "retry", later)
	s.run(t, 5, "task", "delete", later) // pending again: not final
	s.run(t, 0, "task", "cancel", later)
	s.run(t, 0, "task", "delete", later)
	s.run(t, 3, "task", "delete", later)
	r = s.run(t, 0, "task", "retry", "--state", "failed", "--type", "sleep", "--dry-run")
	if !strings.Contains(r.stdout, "would retry 1 task") {
		t.Fatalf("bulk dry run: %s", r.stdout)
	}
	r = s.run(t, 0, "task", "delete", "--state", "failed", "--json")
	var bulk apiclient.BulkResult
	if err := json.Unmarshal([]byte(r.stdout), &bulk); err != nil || bulk.Succeeded != 1 {
		t.Fatalf("bulk delete --json: %v %s", err, r.stdout)
	}
	s.run(t, 2, "task", "delete")
	s.run(t, 2, "task", "delete", "some-id", "--state", "failed")

	// queues.
	s.run(t, 0, "queue", "pause", "reports")
	r = s.run(t, 0, "queue", "ls")
	if !strings.Contains(r.stdout, "reports") || !strings.Contains(r.stdout, "yes") {
		t.Fatalf("queue ls after pause:\n%s", r.stdout)
	}
	s.run(t, 0, "queue", "resume", "reports")
	r = s.run(t, 0, "queue", "ls", "--json")
	var ql struct{ Queues []apiclient.QueueView }
	if err := json.Unmarshal([]byte(r.stdout), &ql); err != nil || len(ql.Queues) < 2 {
		t.Fatalf("queue ls --json: %v %s", err, r.stdout)
	}
	s.run(t, 2, "queue", "pause", "a b")
	s.run(t, 2, "queue", "pause")
	// An empty queue can be deleted; the list has an UNSERVED column.
	s.run(t, 0, "queue", "pause", "scratch")
	s.run(t, 0, "queue", "delete", "scratch")
	r = s.run(t, 0, "queue", "ls")
	if strings.Contains(r.stdout, "scratch") || !strings.Contains(r.stdout, "UNSERVED") {
		t.Fatalf("queue ls after delete:\n%s", r.stdout)
	}
	s.run(t, 3, "queue", "delete", "scratch")

	// workers: the server's in-process worker is listed and stops on request.
	r = s.run(t, 0, "worker", "ls", "--json")
	var wl struct{ Workers []apiclient.WorkerInfo }
	if err := json.Unmarshal([]byte(r.stdout), &wl); err != nil || len(wl.Workers) != 1 {
		t.Fatalf("worker ls --json: %v %s", err, r.stdout)
	}
	r = s.run(t, 0, "worker", "ls")
	if !strings.Contains(r.stdout, wl.Workers[0].ID) {
		t.Fatalf("worker ls: %s", r.stdout)
	}
	s.run(t, 0, "worker", "stop", wl.Workers[0].ID)
	s.run(t, 3, "worker", "stop", "no-such-worker")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = s.run(t, 0, "worker", "ls", "--json")
		if strings.Contains(r.stdout, `"workers": []`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped worker is still listed: %s", r.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// No server there: exit 1 with a clear message.
	r = cli(t, "task", "ls", "--server", "http://127.0.0.1:1").want(t, 1)
	if !strings.Contains(r.stderr, "cannot reach the server") {
		t.Fatalf("unreachable server: %s", r.stderr)
	}
	cli(t, "task", "ls", "--server", "ftp://x").want(t, 2)
}

func TestCLIAuth(t *testing.T) {
	s := startCLIServer(t, "--api-key", "ops:admin:admin-token-0123456789", "--api-key", "dash:read:read-token-0123456789")
	// Without a token the CLI says how to give one; with a wrong one, that
	// it is wrong.
	r := s.run(t, 4, "task", "ls")
	if !strings.Contains(r.stderr, "--token") || !strings.Contains(r.stderr, "TASKMILL_TOKEN") || strings.Contains(r.stderr, "Authorization") && !strings.Contains(r.stderr, "pass --token") {
		t.Fatalf("no token: stderr %q does not say to use --token or TASKMILL_TOKEN", r.stderr)
	}
	r = s.run(t, 4, "task", "ls", "--token", "wrong-token-0123456789")
	if !strings.Contains(r.stderr, "refused the API key") {
		t.Fatalf("wrong token: stderr %q", r.stderr)
	}
	s.run(t, 0, "task", "ls", "--token", "read-token-0123456789")
	s.run(t, 4, "submit", "echo", "--token", "read-token-0123456789")
	t.Setenv("TASKMILL_TOKEN", "admin-token-0123456789")
	s.run(t, 0, "submit", "echo", `{"x":1}`, "--wait")
	// The dashboard and health checks load without a token.
	for _, p := range []string{"/", "/healthz", "/readyz", "/docs"} {
		resp, err := http.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s without a token = %d", p, resp.StatusCode)
		}
	}
}

func TestServeRefusesAnOpenPublicAddress(t *testing.T) {
	r := cli(t, "serve", "--addr", "0.0.0.0:0", "--data", t.TempDir()).want(t, 2)
	if !strings.Contains(r.stderr, "--api-key") || !strings.Contains(r.stderr, "--insecure") {
		t.Fatalf("the refusal does not say what to do: %s", r.stderr)
	}
	cli(t, "serve", "--addr", ":8080", "--data", t.TempDir()).want(t, 2)
	cli(t, "serve", "--api-key", "bad", "--data", t.TempDir()).want(t, 2)
	cli(t, "serve", "--cors-origin", "example.com", "--data", t.TempDir()).want(t, 2)
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:80": true, "0.0.0.0:80": false, ":80": false, "192.0.2.1:80": false} {
		if loopbackAddr(addr) != want {
			t.Errorf("loopbackAddr(%q) = %v", addr, !want)
		}
	}
	for _, args := range [][]string{
		{"--addr", "0.0.0.0:0", "--insecure"},
		{"--addr", "0.0.0.0:0", "--api-key", "ops:admin:admin-token-0123456789"},
	} {
		if _, err := parseServeFlags(args, &bytes.Buffer{}); err != nil {
			t.Errorf("serve %v refused: %v", args, err)
		}
	}
	keys := t.TempDir() + "/keys"
	if err := os.WriteFile(keys, []byte("# ops\nops:admin:admin-token-0123456789\n\ndash:read:read-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseServeFlags([]string{"--addr", "0.0.0.0:0", "--api-keys-file", keys}, &bytes.Buffer{})
	if err != nil || len(c.access.keys) != 2 {
		t.Fatalf("--api-keys-file: %v", err)
	}
}

// TestBackendPasswordNeverLogged: a Redis URL with a password that cannot
// be reached fails, and nothing the process prints holds the password.
func TestBackendPasswordNeverLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"serve", "--data", t.TempDir(), "--backend", "redis://user:s3cret-pa55@127.0.0.1:1/0", "--addr", "127.0.0.1:0"}, &out, &errb)
	if code == 0 {
		t.Fatal("serve with an unreachable Redis succeeded")
	}
	if strings.Contains(out.String()+errb.String(), "s3cret-pa55") {
		t.Fatalf("the password appears in the output:\n%s%s", out.String(), errb.String())
	}
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeLimits: --max-payload and --max-body bound what a submit may
// carry, with the documented errors, and the CLI exits 2 on both.
func TestServeLimits(t *testing.T) {
	s := startCLIServer(t, "--max-payload", "1000", "--max-body", "1500")
	small := `{"text":"` + strings.Repeat("a", 900) + `"}`
	s.run(t, 0, "submit", "echo", small)
	r := s.run(t, 2, "submit", "echo", `{"text":"`+strings.Repeat("a", 1200)+`"}`)
	if !strings.Contains(r.stderr, "invalid_size (payload)") {
		t.Fatalf("payload over --max-payload: %s", r.stderr)
	}
	r = s.run(t, 2, "submit", "echo", `{"text":"`+strings.Repeat("a", 3000)+`"}`)
	if !strings.Contains(r.stderr, "body_too_large") {
		t.Fatalf("body over --max-body: %s", r.stderr)
	}
	cli(t, "serve", "--max-body", "10", "--data", t.TempDir()).want(t, 2)
	cli(t, "serve", "--max-payload", "0", "--data", t.TempDir()).want(t, 2)
}

// TestServeAndWorkerShareWorkerFlags: the worker flags are checked the
// same way by serve and worker, each bad value exiting 2 and naming its
// flag, and serve refuses --workers beyond what an in-process worker may
// have before it opens the store.
func TestServeAndWorkerShareWorkerFlags(t *testing.T) {
	for _, cmd := range []string{"serve", "worker"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--queues", "a=1", "--strict", "b"}, "not both"},
			{[]string{"--queues", "a=0"}, "--queues"},
			{[]string{"--strict", "bad name"}, "--strict"},
			{[]string{"--lease-duration", "10ms"}, "--lease-duration"},
			{[]string{"--shutdown-timeout", "-1s"}, "--shutdown-timeout"},
			{[]string{"--log-level", "loud"}, "--log-level"},
			{[]string{"--log-format", "xml"}, "--log-format"},
		} {
			data := t.TempDir()
			r := cli(t, append([]string{cmd, "--data", data}, c.args...)...).want(t, 2)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s %v: stderr %q does not mention %s", cmd, c.args, r.stderr, c.want)
			}
		}
	}
	data := t.TempDir()
	r := cli(t, "serve", "--data", data, "--workers", "2000", "--max-local-slots", "2000").want(t, 2)
	if !strings.Contains(r.stderr, "--workers must be between 0 and 1000") {
		t.Errorf("serve --workers 2000: %s", r.stderr)
	}
	if entries, _ := os.ReadDir(data); len(entries) > 0 {
		t.Errorf("serve opened the store before refusing --workers: %v", entries)
	}
	c, err := parseServeFlags([]string{"--strict", "b,a", "--workers", "1000", "--max-local-slots", "1000"}, io.Discard)
	if err != nil || !slices.Equal(c.worker.strictOrder, []string{"b", "a"}) || c.worker.weights != nil {
		t.Fatalf("serve --strict b,a: %+v, %v", c, err)
	}
}

// TestWorkerHasNoServeOnlyTelemetryFlags: --public-metrics and --metrics
// do nothing on a worker (--metrics-addr turns its metrics on), so it does
// not take them.
func TestWorkerHasNoServeOnlyTelemetryFlags(t *testing.T) {
	for _, flag := range []string{"--public-metrics", "--metrics"} {
		r := cli(t, "worker", "--data", t.TempDir(), flag).want(t, 2)
		if !strings.Contains(r.stderr, "flag provided but not defined") {
			t.Errorf("worker %s: %s", flag, r.stderr)
		}
	}
	help := cli(t, "worker", "-h").want(t, 0)
	for _, flag := range []string{"--metrics-addr", "--otel-endpoint", "--otel-service-name", "--trace-sample-ratio"} {
		if !strings.Contains(help.stdout+help.stderr, strings.TrimPrefix(flag, "-")) {
			t.Errorf("worker -h lacks %s", flag)
		}
	}
}

func TestCheckRetentionNamesTheFirstNegativeFlag(t *testing.T) {
	for range 20 {
		err := checkRetention(&taskmill.Retention{Completed: -1, Failed: -1, Canceled: -1})
		if err == nil || !strings.Contains(err.Error(), "--retain-completed") {
			t.Fatalf("checkRetention = %v, want --retain-completed", err)
		}
	}
}

func TestEnvDefaults(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "t": true, "yes": true, "On": true,
		"0": false, "false": false, "F": false, "no": false, "OFF": false} {
		t.Setenv("TASKMILL_TEST_BOOL", v)
		if got := envBool("TASKMILL_TEST_BOOL", !want); got != want {
			t.Errorf("envBool(%q) = %v", v, got)
		}
	}
	for _, def := range []bool{true, false} {
		t.Setenv("TASKMILL_TEST_BOOL", "maybe")
		if envBool("TASKMILL_TEST_BOOL", def) != def {
			t.Errorf("envBool of a bad value did not keep the default %v", def)
		}
	}
	t.Setenv("TASKMILL_INSECURE", "yes")
	t.Setenv("TASKMILL_PUBLIC_METRICS", "on")
	t.Setenv("TASKMILL_METRICS", "off")
	t.Setenv("TASKMILL_TRACE_SAMPLE_RATIO", "0.25")
	t.Setenv("TASKMILL_HTTP_DENY_HOSTS", "a.com, b.com")
	c, err := parseServeFlags([]string{"--addr", "0.0.0.0:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.access.insecure || !c.telemetry.publicMetrics || c.telemetry.metrics || c.telemetry.sampleRatio != 0.25 {
		t.Errorf("env booleans and ratio: insecure %v public %v metrics %v ratio %g", c.access.insecure, c.telemetry.publicMetrics, c.telemetry.metrics, c.telemetry.sampleRatio)
	}
	if got := c.taskTypes().HTTPDenyHosts; !slices.Equal(got, []string{"a.com", "b.com"}) {
		t.Errorf("deny hosts from the env = %q", got)
	}
	// A flag on the command line replaces the env default, and repeats add.
	c, err = parseServeFlags([]string{"--http-deny-hosts", "c.com", "--http-deny-hosts", "d.com,e.com"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.taskTypes().HTTPDenyHosts; !slices.Equal(got, []string{"c.com", "d.com", "e.com"}) {
		t.Errorf("deny hosts from flags over the env = %q", got)
	}
}

// TestCLIQueuePauseAhead: a queue no task was ever sent to can be paused,
// as with asynq and Sidekiq (docs/cli.md); the CLI says it paused it
// ahead, and the pause holds for the tasks that come.
func TestCLIQueuePauseAhead(t *testing.T) {
	s := startCLIServer(t)
	r := s.run(t, 0, "queue", "pause", "nosuchqueue")
	if !strings.Contains(r.stdout, "queue nosuchqueue paused ahead: it has no tasks yet") {
		t.Fatalf("pause of a new queue: %q", r.stdout)
	}
	r = s.run(t, 0, "queue", "ls", "--json")
	var ql struct{ Queues []apiclient.QueueView }
	if err := json.Unmarshal([]byte(r.stdout), &ql); err != nil || len(ql.Queues) != 1 || ql.Queues[0].Name != "nosuchqueue" || !ql.Queues[0].Paused {
		t.Fatalf("queue ls after pausing ahead: %v %s", err, r.stdout)
	}
	// Known now: a second pause, and the resume, are plain.
	if r = s.run(t, 0, "queue", "pause", "nosuchqueue"); r.stdout != "queue nosuchqueue paused\n" {
		t.Fatalf("second pause: %q", r.stdout)
	}
	if r = s.run(t, 0, "queue", "resume", "nosuchqueue"); r.stdout != "queue nosuchqueue resumed\n" {
		t.Fatalf("resume: %q", r.stdout)
	}
	// Tasks and workers that do not exist are still exit 3.
	s.run(t, 3, "task", "get", "0193c2a4-5b6e-7c1d-9e2f-3a4b5c6d7e8f")
}
