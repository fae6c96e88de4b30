package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/server"
)

func TestTaskLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t))
		var created apiclient.Task
		h := e.wantStatus(201, "POST", "/api/tasks", map[string]any{"type": "square", "payload": map[string]any{"n": 12}, "priority": 5, "max_attempts": 3, "timeout": "10s"}, &created)
		if h.Get("Location") != "/api/tasks/"+created.ID || created.Type != "square" || created.Queue != "default" || created.Priority != 5 {
			t.Fatalf("created = %+v, location %q", created, h.Get("Location"))
		}
		done := e.waitState(created.ID, backend.StateCompleted)
		if string(done.Result) != `{"square":144}` || done.Attempt != 1 || len(done.Attempts) != 1 {
			t.Fatalf("completed task = %+v", done)
		}
		a := done.Attempts[0]
		if a.WorkerID != e.worker.ID() || a.Outcome != "completed" || a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
			t.Fatalf("attempt record = %+v", a)
		}
		if done.LeaseToken != 0 || done.StartedAt.IsZero() || done.FinishedAt.IsZero() || done.CreatedAt.IsZero() {
			t.Fatalf("timestamps or lease token wrong: %+v", done)
		}
		// The type's max_attempts applies when the request sets none.
		dflt := e.submit(map[string]any{"type": "square", "payload": map[string]any{"n": 1}})
		if dflt.MaxAttempts != 2 {
			t.Fatalf("max_attempts default from the type = %d, want 2", dflt.MaxAttempts)
		}

		// A failing task: retried until out of attempts, with its error
		// history kept per attempt.
		failing := e.submit(map[string]any{"type": "fail", "max_attempts": 2})
		failed := e.waitState(failing.ID, backend.StateFailed)
		if len(failed.Attempts) != 2 || failed.Attempts[0].Error != "this task always fails" || failed.LastError == "" {
			t.Fatalf("failed task history = %+v", failed.Attempts)
		}
		// Retry by hand, then the retry endpoint refuses a task that is not final.
		var retried apiclient.Task
		e.wantStatus(200, "POST", "/api/tasks/"+failing.ID+"/retry", nil, &retried)
		if retried.State != backend.StatePending || retried.Attempt != 0 {
			t.Fatalf("retried = %+v", retried)
		}
		e.waitState(failing.ID, backend.StateFailed)

		// Scheduled tasks: cancel with POST …/cancel; delete with DELETE.
		later := e.submit(map[string]any{"type": "echo", "delay": 3600})
		if later.State != backend.StateScheduled || later.RunAt.Before(time.Now().Add(59*time.Minute)) {
			t.Fatalf("delayed task = %+v", later)
		}
		e.wantError(409, "task_not_final", "", "DELETE", "/api/tasks/"+later.ID+"?mode=delete", nil)
		if ae := e.wantError(409, "task_not_final", "", "POST", "/api/tasks/"+later.ID+"/retry", nil); !strings.Contains(ae.Message, "is scheduled: only failed or canceled tasks can be retried") {
			t.Fatalf("retry of a scheduled task: %q", ae.Message)
		}
		// A task that failed once, then completed, shows no error; its
		// attempts still hold it.
		flaky := e.submit(map[string]any{"type": "flaky"})
		recovered := e.waitState(flaky.ID, backend.StateCompleted)
		if recovered.LastError != "" || len(recovered.Attempts) != 2 || recovered.Attempts[0].Error != "flaky: first attempt fails" {
			t.Fatalf("a recovered task: last_error %q, attempts %+v", recovered.LastError, recovered.Attempts)
		}
		var page apiclient.TaskList
		e.wantStatus(200, "GET", "/api/tasks?type=flaky", nil, &page)
		if len(page.Tasks) != 1 || page.Tasks[0].LastError != "" {
			t.Fatalf("the list shows a recovered task's old error: %+v", page.Tasks)
		}
		// A completed task is final, yet not retryable: the message says
		// which tasks are.
		finished := e.submit(map[string]any{"type": "echo"})
		e.waitState(finished.ID, backend.StateCompleted)
		if ae := e.wantError(409, "task_not_final", "", "POST", "/api/tasks/"+finished.ID+"/retry", nil); !strings.Contains(ae.Message, "is completed: only failed or canceled tasks can be retried") || strings.Contains(ae.Message, "not final") {
			t.Fatalf("retry of a completed task: %q", ae.Message)
		}
		var canceled apiclient.Task
		e.wantStatus(200, "POST", "/api/tasks/"+later.ID+"/cancel", nil, &canceled)
		if canceled.State != backend.StateCanceled {
			t.Fatalf("canceled = %+v", canceled)
		}
		e.wantError(409, "task_final", "", "POST", "/api/tasks/"+later.ID+"/cancel", nil)
		e.wantError(409, "task_final", "", "DELETE", "/api/tasks/"+later.ID+"?mode=cancel", nil)
		e.wantStatus(204, "DELETE", "/api/tasks/"+later.ID, nil, nil)
		e.wantError(404, "not_found", "", "GET", "/api/tasks/"+later.ID, nil)
		e.wantError(404, "not_found", "", "DELETE", "/api/tasks/"+later.ID, nil)

		// DELETE in auto mode cancels what is not final (200) …
		other := e.submit(map[string]any{"type": "echo", "delay": "1h"})
		e.wantStatus(200, "DELETE", "/api/tasks/"+other.ID, nil, &canceled)
		if canceled.State != backend.StateCanceled {
			t.Fatalf("DELETE of a scheduled task: %+v", canceled)
		}
		// … and deletes a final one (204); mode=delete does the same.
		e.wantStatus(204, "DELETE", "/api/tasks/"+other.ID+"?mode=delete", nil, nil)
		e.wantError(400, "invalid_enum", "mode", "DELETE", "/api/tasks/x?mode=purge", nil)
	})
}

func TestSubmitBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker(), withConfig(func(c *server_Config) { c.MaxBodyBytes = 4096 }))
		cases := []struct {
			name, body, code, field string
			status                  int
		}{
			{"malformed", `{"type":`, "invalid_json", "body", 400},
			{"not an object", `[1,2]`, "invalid_type", "body", 400},
			{"empty", ``, "invalid_json", "body", 400},
			{"trailing data", `{"type":"echo"} {}`, "invalid_json", "body", 400},
			{"wrong type", `{"type":"echo","priority":"high"}`, "invalid_type", "priority", 400},
			{"wrong type nested", `{"type":"square","payload":{"n":"x"}}`, "invalid_type", "payload.n", 400},
			{"unknown field", `{"type":"echo","colour":"red"}`, "invalid_unknown", "colour", 400},
			{"unknown payload field", `{"type":"square","payload":{"n":1,"m":2}}`, "invalid_unknown", "payload.m", 400},
			{"missing type", `{"payload":{}}`, "invalid_required", "type", 400},
			{"bad type name", `{"type":"no spaces"}`, "invalid_charset", "type", 400},
			{"long type name", `{"type":"` + strings.Repeat("a", 200) + `"}`, "invalid_length", "type", 400},
			{"priority out of range", `{"type":"echo","priority":1001}`, "invalid_range", "priority", 400},
			{"negative priority", `{"type":"echo","priority":-1}`, "invalid_range", "priority", 400},
			{"huge number", `{"type":"echo","priority":1e40}`, "invalid_type", "priority", 400},
			{"max attempts", `{"type":"echo","max_attempts":101}`, "invalid_range", "max_attempts", 400},
			{"bad duration", `{"type":"echo","delay":"soon"}`, "invalid_duration", "delay", 400},
			{"bad timeout type", `{"type":"echo","timeout":true}`, "invalid_duration", "timeout", 400},
			{"delay and run_at", `{"type":"echo","delay":"1m","run_at":"2030-01-01T00:00:00Z"}`, "invalid_exclusive", "run_at", 400},
			{"bad run_at", `{"type":"echo","run_at":"tomorrow"}`, "invalid_time", "run_at", 400},
			{"bad deadline", `{"type":"echo","deadline":5}`, "invalid_time", "deadline", 400},
			{"payload out of range", `{"type":"square","payload":{"n":-1}}`, "invalid_range", "payload.n", 400},
			{"payload missing field", `{"type":"square","payload":{}}`, "invalid_required", "payload.n", 400},
			{"unique_for without key", `{"type":"echo","unique_for":"1m"}`, "invalid_requires", "unique_for", 400},
			{"bad id", `{"type":"echo","id":"a/b"}`, "invalid_charset", "id", 400},
			{"oversized body", `{"type":"echo","payload":"` + strings.Repeat("x", 5000) + `"}`, "body_too_large", "body", 413},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				e.wantError(tc.status, tc.code, tc.field, "POST", "/api/tasks", tc.body)
			})
		}
		e.t = t
		// Nothing malformed was stored.
		var page apiclient.TaskList
		e.wantStatus(200, "GET", "/api/tasks", nil, &page)
		if len(page.Tasks) != 0 {
			t.Fatalf("bad submits stored %d tasks", len(page.Tasks))
		}
		// A unique key: the second submit answers 409 with the holder.
		first := e.submit(map[string]any{"type": "echo", "unique_key": "invoice-7"})
		dup := e.wantError(409, "duplicate", "unique_key", "POST", "/api/tasks", map[string]any{"type": "echo", "unique_key": "invoice-7"})
		if dup.ExistingID != first.ID {
			t.Fatalf("duplicate names %q, want %q", dup.ExistingID, first.ID)
		}
		e.wantError(409, "duplicate", "id", "POST", "/api/tasks", map[string]any{"type": "echo", "id": first.ID})
	})
}

func TestBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker(), withConfig(func(c *server_Config) { c.MaxBatch = 3 }))
		var res apiclient.BatchResult
		e.wantStatus(201, "POST", "/api/tasks/batch", map[string]any{"tasks": []any{
			map[string]any{"type": "echo", "unique_key": "k"},
			map[string]any{"type": "echo", "unique_key": "k"},
			map[string]any{"type": "square", "payload": map[string]any{"n": 3}, "queue": "math"},
		}}, &res)
		if len(res.Results) != 3 || res.Results[0].Duplicate || !res.Results[1].Duplicate || res.Results[1].ID != res.Results[0].ID {
			t.Fatalf("batch results = %+v", res.Results)
		}
		if got := e.get(res.Results[2].ID); got.Queue != "math" {
			t.Fatalf("third task = %+v", got)
		}
		e.wantError(400, "invalid_range", "tasks[1].payload.n", "POST", "/api/tasks/batch", `{"tasks":[{"type":"echo"},{"type":"square","payload":{"n":5000}}]}`)
		e.wantError(400, "invalid_unknown", "tasks[0].bogus", "POST", "/api/tasks/batch", `{"tasks":[{"type":"echo","bogus":1}]}`)
		e.wantError(400, "invalid_size", "tasks", "POST", "/api/tasks/batch", `{"tasks":[{"type":"echo"},{"type":"echo"},{"type":"echo"},{"type":"echo"}]}`)
		e.wantError(400, "invalid_required", "tasks", "POST", "/api/tasks/batch", `{"tasks":[]}`)
		e.wantError(400, "invalid_type", "tasks", "POST", "/api/tasks/batch", `{"tasks":{}}`)
		e.wantError(400, "invalid_unknown", "task", "POST", "/api/tasks/batch", `{"task":[]}`)
		// All or none: the valid first task of a refused batch is not stored.
		var page apiclient.TaskList
		e.wantStatus(200, "GET", "/api/tasks?limit=100", nil, &page)
		if len(page.Tasks) != 2 {
			t.Fatalf("%d tasks stored, want the 2 of the good batch", len(page.Tasks))
		}
	})
}

func TestListFiltersAndPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker())
		var ids []string
		for i := range 7 {
			typ, queue := "echo", "default"
			if i%2 == 1 {
				typ, queue = "square", "math"
			}
			payload := map[string]any{"n": i}
			if typ == "echo" {
				payload = map[string]any{"note": fmt.Sprintf("needle-%d", i)}
			}
			ids = append(ids, e.submit(map[string]any{"type": typ, "queue": queue, "payload": payload}).ID)
			time.Sleep(2 * time.Millisecond) // distinct, ordered UUIDv7 timestamps
		}
		e.wantStatus(200, "POST", "/api/tasks/"+ids[0]+"/cancel", nil, nil)

		list := func(query string) ([]string, string) {
			t.Helper()
			var page apiclient.TaskList
			e.wantStatus(200, "GET", "/api/tasks?"+query, nil, &page)
			var got []string
			for _, task := range page.Tasks {
				got = append(got, task.ID)
				if task.LeaseToken != 0 {
					t.Fatal("a listed task shows its lease token")
				}
			}
			return got, page.NextCursor
		}
		all, cursor := list("")
		if len(all) != 7 || all[0] != ids[6] || all[6] != ids[0] || cursor != "" {
			t.Fatalf("list = %v (cursor %q), want newest first %v", all, cursor, ids)
		}
		if got, _ := list("queue=math"); len(got) != 3 || got[0] != ids[5] {
			t.Fatalf("queue=math = %v", got)
		}
		if got, _ := list("type=echo&state=pending"); len(got) != 3 {
			t.Fatalf("type=echo&state=pending = %v", got)
		}
		if got, _ := list("state=canceled"); len(got) != 1 || got[0] != ids[0] {
			t.Fatalf("state=canceled = %v", got)
		}
		if got, _ := list("q=" + url.QueryEscape("needle-4")); len(got) != 1 || got[0] != ids[4] {
			t.Fatalf("q=needle-4 = %v", got)
		}
		if got, _ := list("q=" + ids[3][len(ids[3])-12:]); len(got) != 1 || got[0] != ids[3] {
			t.Fatalf("q=<part of an id> = %v", got)
		}
		if got, _ := list("q=square"); len(got) != 3 {
			t.Fatalf("q=square (the type) = %v", got)
		}
		// Pages of 3 walk the whole list once, in order.
		var walked []string
		cursor = ""
		for range 5 {
			page, next := list("limit=3&cursor=" + url.QueryEscape(cursor))
			walked = append(walked, page...)
			if cursor = next; cursor == "" {
				break
			}
		}
		if strings.Join(walked, ",") != strings.Join(all, ",") {
			t.Fatalf("pages walked %v, want %v", walked, all)
		}
		for _, bad := range []struct{ query, code, field string }{
			{"state=done", "invalid_enum", "state"},
			{"limit=0", "invalid_range", "limit"},
			{"limit=1001", "invalid_range", "limit"},
			{"limit=ten", "invalid_type", "limit"},
			{"cursor=%21%21not-a-cursor", "invalid_cursor", "cursor"},
			{"stat=failed", "invalid_unknown", "stat"},
			{"queue=a%20b", "invalid_charset", "queue"},
			{"q=" + strings.Repeat("x", 300), "invalid_length", "q"},
		} {
			e.wantError(400, bad.code, bad.field, "GET", "/api/tasks?"+bad.query, nil)
		}
		e.wantError(400, "invalid_charset", "id", "GET", "/api/tasks/bad%20id", nil)
		e.wantError(404, "not_found", "", "GET", "/api/tasks/no-such-task", nil)
	})
}

// server_Config shortens the config type in options.
type server_Config = server.Config

var _ = json.Marshal
