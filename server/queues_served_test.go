package server_test

import (
	"testing"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
)

// TestQueuesShowUnserved: GET /api/queues says whether a live worker
// takes from a queue and which types of its pending tasks none runs.
func TestQueuesShowUnserved(t *testing.T) {
	forEachBackendAndModel(t, func(t *testing.T, b backend.Backend) {
		e := newEnv(t, b, withoutWorker())
		for _, typ := range []string{"resize", "echo", "resize"} {
			e.submit(map[string]any{"type": typ, "queue": "ext"})
		}
		e.submit(map[string]any{"type": "echo", "queue": "lonely"})
		view := func(name string) apiclient.QueueView {
			t.Helper()
			var list apiclient.QueueList
			e.wantStatus(200, "GET", "/api/queues", nil, &list)
			for _, q := range list.Queues {
				if q.Name == name {
					return q
				}
			}
			t.Fatalf("queue %s not listed: %+v", name, list.Queues)
			return apiclient.QueueView{}
		}
		if q := view("ext"); q.Served || len(q.UnservedTypes) != 2 || q.UnservedTypes[0] != "echo" || q.UnservedTypes[1] != "resize" {
			t.Fatalf("ext with no worker: served %v, unserved %v", q.Served, q.UnservedTypes)
		}
		e.wantStatus(200, "POST", "/api/workers/w1/heartbeat", map[string]any{"queues": []string{"ext"}, "types": []string{"resize"}, "concurrency": 1}, nil)
		if q := view("ext"); !q.Served || len(q.UnservedTypes) != 1 || q.UnservedTypes[0] != "echo" {
			t.Fatalf("ext with a resize worker: served %v, unserved %v", q.Served, q.UnservedTypes)
		}
		if q := view("lonely"); q.Served || len(q.UnservedTypes) != 1 {
			t.Fatalf("lonely: served %v, unserved %v", q.Served, q.UnservedTypes)
		}
		// A worker that lists no types runs them all.
		e.wantStatus(200, "POST", "/api/workers/w2/heartbeat", map[string]any{"queues": []string{"ext"}, "concurrency": 1}, nil)
		if q := view("ext"); !q.Served || len(q.UnservedTypes) != 0 {
			t.Fatalf("ext with an all-types worker: served %v, unserved %v", q.Served, q.UnservedTypes)
		}
	})
}

// TestDeleteQueue: DELETE /api/queues/{name} forgets an empty queue and
// refuses one that holds tasks.
func TestDeleteQueue(t *testing.T) {
	forEachBackendAndModel(t, func(t *testing.T, b backend.Backend) {
		e := newEnv(t, b, withoutWorker())
		task := e.submit(map[string]any{"type": "echo", "queue": "temp"})
		e.wantError(409, "queue_not_empty", "", "DELETE", "/api/queues/temp", nil)
		e.wantStatus(200, "DELETE", "/api/tasks/"+task.ID, nil, nil) // cancel
		e.wantStatus(204, "DELETE", "/api/tasks/"+task.ID, nil, nil) // delete the final task
		e.wantStatus(204, "DELETE", "/api/queues/temp", nil, nil)
		var list apiclient.QueueList
		e.wantStatus(200, "GET", "/api/queues", nil, &list)
		for _, q := range list.Queues {
			if q.Name == "temp" {
				t.Fatalf("deleted queue still listed: %+v", q)
			}
		}
		e.wantError(404, "not_found", "", "DELETE", "/api/queues/temp", nil)
		e.wantError(400, "invalid_charset", "name", "DELETE", "/api/queues/a%20b", nil)
	})
}

// forEachBackendAndModel runs fn on every backend and on the reference
// model, which implements the whole contract.
func forEachBackendAndModel(t *testing.T, fn func(t *testing.T, b backend.Backend)) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) { fn(t, open(t)) })
	t.Run("model", func(t *testing.T) {
		m := model.New(model.Options{})
		t.Cleanup(func() { m.Close() })
		fn(t, m)
	})
}
