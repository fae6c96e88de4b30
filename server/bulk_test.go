package server_test

import (
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

func TestBulkActions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t))
		// Failed tasks in two queues; retry all failed in "math" only.
		var mathFailed, defaultFailed []string
		for range 3 {
			mathFailed = append(mathFailed, e.submit(map[string]any{"type": "fail", "queue": "math", "max_attempts": 1}).ID)
		}
		defaultFailed = append(defaultFailed, e.submit(map[string]any{"type": "fail", "max_attempts": 1}).ID)
		for _, id := range append(mathFailed, defaultFailed...) {
			e.waitState(id, backend.StateFailed)
		}
		// A dry run counts without acting.
		var res apiclient.BulkResult
		res = bulk(e, map[string]any{"action": "retry", "dry_run": true, "filter": map[string]any{"state": "failed", "queue": "math"}})
		if res.Matched != 3 || res.Succeeded != 0 || !res.DryRun || len(res.IDs) != 3 {
			t.Fatalf("dry run = %+v", res)
		}
		if e.get(mathFailed[0]).State != backend.StateFailed {
			t.Fatal("a dry run changed a task")
		}
		res = bulk(e, map[string]any{"action": "retry", "filter": map[string]any{"state": "failed", "queue": "math"}})
		if res.Matched != 3 || res.Succeeded != 3 || len(res.Failed) != 0 || res.NextCursor != "" {
			t.Fatalf("bulk retry = %+v", res)
		}
		for _, id := range mathFailed {
			if task := e.get(id); task.Attempt == 0 && task.State != backend.StatePending && task.State != backend.StateProcessing && task.State != backend.StateFailed {
				t.Fatalf("retried task %s is %s", id, task.State)
			}
		}
		if e.get(defaultFailed[0]).Attempt != 1 {
			t.Fatal("the bulk retry touched a task of another queue")
		}
		// Bounded work per call: limit 2 of 3 completed echo tasks, then
		// the cursor finishes the job.
		var done []string
		for range 3 {
			done = append(done, e.submit(map[string]any{"type": "echo", "payload": map[string]any{"k": "bulk"}}).ID)
		}
		for _, id := range done {
			e.waitState(id, backend.StateCompleted)
		}
		res = bulk(e, map[string]any{"action": "delete", "limit": 2, "filter": map[string]any{"state": "completed", "type": "echo"}})
		if res.Succeeded != 2 || res.NextCursor == "" {
			t.Fatalf("first bounded delete = %+v", res)
		}
		res = bulk(e, map[string]any{"action": "delete", "limit": 2, "filter": map[string]any{"state": "completed", "type": "echo", "cursor": res.NextCursor}})
		if res.Succeeded != 1 || res.NextCursor != "" {
			t.Fatalf("second bounded delete = %+v", res)
		}
		var page apiclient.TaskList
		e.wantStatus(200, "GET", "/api/tasks?type=echo", nil, &page)
		if len(page.Tasks) != 0 {
			t.Fatalf("%d echo tasks left after deleting all completed", len(page.Tasks))
		}
		// older_than: nothing finished an hour ago; everything finished 0s ago.
		res = bulk(e, map[string]any{"action": "delete", "filter": map[string]any{"state": "failed", "older_than": "1h"}})
		if res.Matched != 0 {
			t.Fatalf("older_than 1h matched %+v", res)
		}
		// Cancel many by id: one unknown, one final, one scheduled.
		sched := e.submit(map[string]any{"type": "echo", "delay": "1h"}).ID
		res = bulk(e, map[string]any{"action": "cancel", "filter": map[string]any{"ids": []string{sched, defaultFailed[0], "no-such-task"}}})
		if res.Succeeded != 1 || len(res.Failed) != 2 || res.IDs[0] != sched {
			t.Fatalf("cancel by ids = %+v", res)
		}
		codes := map[string]string{}
		for _, f := range res.Failed {
			codes[f.ID] = f.Code
		}
		if codes[defaultFailed[0]] != "task_final" || codes["no-such-task"] != "not_found" {
			t.Fatalf("per-task failures = %+v", res.Failed)
		}
		time.Sleep(10 * time.Millisecond)
		res = bulk(e, map[string]any{"action": "delete", "filter": map[string]any{"state": "canceled", "older_than": 0.001}})
		if res.Succeeded != 1 {
			t.Fatalf("delete canceled older than 1ms = %+v", res)
		}

		for _, bad := range []struct {
			body        string
			code, field string
		}{
			{`{"action":"purge","filter":{"state":"failed"}}`, "invalid_enum", "action"},
			{`{"filter":{"state":"failed"}}`, "invalid_required", "action"},
			{`{"action":"retry","filter":{}}`, "invalid_required", "filter"},
			{`{"action":"retry"}`, "invalid_required", "filter"},
			{`{"action":"retry","filter":{"state":"broken"}}`, "invalid_enum", "filter.state"},
			{`{"action":"retry","filter":{"queue":"a b"}}`, "invalid_charset", "filter.queue"},
			{`{"action":"retry","filter":{"ids":["ok","a/b"]}}`, "invalid_charset", "filter.ids[1]"},
			{`{"action":"retry","filter":{"state":"failed"},"limit":10001}`, "invalid_range", "limit"},
			{`{"action":"retry","filter":{"state":"failed"},"limit":-1}`, "invalid_range", "limit"},
			{`{"action":"retry","filter":{"older_than":"-1s"}}`, "invalid_range", "filter.older_than"},
			{`{"action":"retry","filter":{"older_than":"a while"}}`, "invalid_json", "*"},
			{`{"action":"retry","filter":{"state":"failed","cursor":"@@@"}}`, "invalid_cursor", "filter.cursor"},
			{`{"action":"retry","filter":{"state":"failed","cursor":"bm90IGFuIGlkIQ"}}`, "invalid_cursor", "filter.cursor"}, // base64 of "not an id!"
			{`{"action":"retry","filter":{"state":"failed"},"extra":1}`, "invalid_unknown", "extra"},
			{`{"action":"retry","filter":{"state":"failed","colour":1}}`, "invalid_unknown", "filter.colour"},
			{`{"action":1}`, "invalid_type", "action"},
			{`{"action":"retry","filter":{"state":"failed"},"limit":"ten"}`, "invalid_type", "limit"},
			{`{"action":"retry","filter":{"state":"failed"},"dry_run":"yes"}`, "invalid_type", "dry_run"},
			{`not json`, "invalid_json", "body"},
		} {
			e.wantError(400, bad.code, bad.field, "POST", "/api/tasks/bulk", bad.body)
		}
	})
}

func bulk(e *env, body any) apiclient.BulkResult {
	e.t.Helper()
	var res apiclient.BulkResult
	e.wantStatus(200, "POST", "/api/tasks/bulk", body, &res)
	return res
}
