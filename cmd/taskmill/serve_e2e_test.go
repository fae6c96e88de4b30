package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testproc"
)

// These tests run the real binary (built by testproc) as a child process
// and talk to it over HTTP, as a user would.

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends a request with a JSON body (body "" sends none) and decodes
// the JSON answer into out when out is not nil. It returns the status.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer %d is not JSON: %v\n%s", method, url, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode
}

// task is the part of a task record these tests look at.
type task struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	State     string          `json:"state"`
	Attempt   int             `json:"attempt"`
	Payload   json.RawMessage `json:"payload"`
	Result    json.RawMessage `json:"result"`
	LastError string          `json:"last_error"`
	Attempts  []struct {
		Outcome string `json:"outcome"`
	} `json:"attempts"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// waitTask polls a task until cond holds, failing the test after a minute.
func waitTask(t *testing.T, base, id string, what string, cond func(task) bool) task {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var got task
		if code := call(t, "GET", base+"/api/tasks/"+id, "", &got); code != http.StatusOK {
			t.Fatalf("GET task %s: status %d", id, code)
		}
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never became %s; last seen %+v", id, what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listAll pages through GET /api/tasks and returns every task.
func listAll(t *testing.T, base string) []task {
	t.Helper()
	var all []task
	cursor := ""
	for {
		var page struct {
			Tasks      []task `json:"tasks"`
			NextCursor string `json:"next_cursor"`
		}
		if code := call(t, "GET", base+"/api/tasks?limit=1000&cursor="+cursor, "", &page); code != http.StatusOK {
			t.Fatalf("list tasks: status %d", code)
		}
		all = append(all, page.Tasks...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func startServe(t *testing.T, name, dir string, extra ...string) (*testproc.Proc, string) {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, extra...)
	p := testproc.Start(t, name, args...)
	return p, p.URL()
}

// TestServeRunsFibonacci is the first thing the README promises.
func TestServeRunsFibonacci(t *testing.T) {
	_, base := startServe(t, "serve", t.TempDir(), "--workers", "2")
	var created task
	if code := call(t, "POST", base+"/api/tasks", `{"type":"fibonacci","payload":{"n":35}}`, &created); code != http.StatusCreated || created.ID == "" {
		t.Fatalf("submit: status %d, %+v", code, created)
	}
	done := waitTask(t, base, created.ID, "completed", func(tk task) bool { return tk.State == "completed" })
	var result struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(done.Result, &result); err != nil || result.Value != "9227465" {
		t.Fatalf("fibonacci(35) result %s (%v), want value 9227465", done.Result, err)
	}
}

// TestServeRefusesBadInput sends each kind of bad submit the core issue
// names, checks the status, code and field, and then that nothing at all
// was stored.
func TestServeRefusesBadInput(t *testing.T) {
	_, base := startServe(t, "serve", t.TempDir(), "--workers", "0")
	big := `{"type":"echo","payload":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	huge := `{"type":"echo","payload":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	cases := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"malformed JSON", `{"type":"fibonacci",`, 400, "invalid_json", "body"},
		{"not an object", `["fibonacci"]`, 400, "invalid_type", "body"},
		{"empty body", ``, 400, "invalid_json", "body"},
		{"unknown task type", `{"type":"rm_rf","payload":{}}`, 400, "invalid_unknown", "type"},
		{"negative priority", `{"type":"fibonacci","payload":{"n":3},"priority":-1}`, 400, "invalid_range", "priority"},
		{"negative n", `{"type":"fibonacci","payload":{"n":-1}}`, 400, "invalid_range", "payload.n"},
		{"n of the wrong type", `{"type":"fibonacci","payload":{"n":"35"}}`, 400, "invalid_type", "payload.n"},
		{"empty type", `{"type":"","payload":{"n":1}}`, 400, "invalid_required", "type"},
		{"over-long type", `{"type":"` + strings.Repeat("t", 129) + `"}`, 400, "invalid_length", "type"},
		{"empty queue name", `{"type":"fibonacci","payload":{"n":1},"queue":""}`, 400, "invalid_required", "queue"},
		{"valid submit", `{"type":"fibonacci","payload":{"n":1},"queue":"q1"}`, 201, "", ""},
		{"over-long queue", `{"type":"fibonacci","payload":{"n":1},"queue":"` + strings.Repeat("q", 129) + `"}`, 400, "invalid_length", "queue"},
		{"queue with a slash", `{"type":"fibonacci","payload":{"n":1},"queue":"a/b"}`, 400, "invalid_charset", "queue"},
		{"unknown field", `{"type":"fibonacci","payload":{"n":1},"prio":3}`, 400, "invalid_unknown", "prio"},
		{"bad delay", `{"type":"fibonacci","payload":{"n":1},"delay":"soon"}`, 400, "invalid_duration", "delay"},
		{"payload over the 1 MiB default", big, 400, "invalid_size", "payload"},
		{"body far over the limit", huge, 413, "body_too_large", "body"},
	}
	stored := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			code := call(t, "POST", base+"/api/tasks", tc.body, &e)
			if code != tc.status {
				t.Fatalf("status %d, want %d (%+v)", code, tc.status, e.Error)
			}
			if tc.status == 201 {
				stored++
				return
			}
			if e.Error.Code != tc.code || e.Error.Field != tc.field || e.Error.Message == "" {
				t.Fatalf("error %+v, want code %s on field %s", e.Error, tc.code, tc.field)
			}
		})
	}
	if got := len(listAll(t, base)); got != stored {
		t.Fatalf("%d tasks stored, want only the %d valid submits", got, stored)
	}
}

// TestServePayloadLimitIsConfigurable lowers the limit by flag.
func TestServePayloadLimitIsConfigurable(t *testing.T) {
	_, base := startServe(t, "serve", t.TempDir(), "--workers", "0", "--max-payload", "100")
	var e apiError
	body := fmt.Sprintf(`{"type":"echo","payload":{"pad":%q}}`, strings.Repeat("x", 100))
	if code := call(t, "POST", base+"/api/tasks", body, &e); code != 400 || e.Error.Field != "payload" || e.Error.Code != "invalid_size" {
		t.Fatalf("101-byte payload with --max-payload 100: status %d, %+v", code, e.Error)
	}
	if code := call(t, "POST", base+"/api/tasks", `{"type":"echo","payload":{"ok":true}}`, nil); code != 201 {
		t.Fatalf("small payload: status %d", code)
	}
}

// TestServeRunsSchedules: serve --schedules submits the tasks of a
// schedule file when due, lists them at /api/schedules, and refuses a bad
// file at start with exit code 2 and the field named.
func TestServeRunsSchedules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "schedules.json")
	if err := os.WriteFile(file, []byte(`[{"name":"tick","spec":"@every 1s","task":{"type":"echo","payload":{"hi":1}}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startServe(t, "serve", filepath.Join(dir, "data"), "--workers", "1", "--schedules", file)
	var list struct {
		Schedules []struct {
			Name     string `json:"name"`
			LastTask string `json:"last_task_id"`
		} `json:"schedules"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(list.Schedules) == 0 || list.Schedules[0].LastTask == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the schedule never fired: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
		call(t, "GET", base+"/api/schedules", "", &list)
	}
	done := waitTask(t, base, list.Schedules[0].LastTask, "completed", func(tk task) bool { return tk.State == "completed" })
	if string(done.Result) != `{"hi":1}` {
		t.Fatalf("scheduled echo result %s", done.Result)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"name":"tick","spec":"@every 1s","task":{"type":"fibonacci","payload":{"n":-3}}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "serve-bad", "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data2"), "--schedules", bad)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Wait(ctx)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(p.Output(), "schedules[0].task.payload.n") {
		t.Fatalf("serve with a bad schedule: %v\n%s", err, p.Output())
	}
}

// TestServeRefusesNegativeRetention: a bad retention flag exits 2.
func TestServeRefusesNegativeRetention(t *testing.T) {
	p := testproc.Start(t, "serve", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--retain-completed", "-1h")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var exit *exec.ExitError
	if err := p.Wait(ctx); !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(p.Output(), "--retain-completed") {
		t.Fatalf("serve --retain-completed -1h: %v\n%s", err, p.Output())
	}
}
