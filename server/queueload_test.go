package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// TestQueueLoad: the autoscaler's number counts pending and running
// tasks, leaves out pending ones of a paused queue, and answers zeros
// (not 404) for a queue that has no tasks.
func TestQueueLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker())
		load := func(name string) apiclient.QueueLoad {
			t.Helper()
			var l apiclient.QueueLoad
			e.wantStatus(200, "GET", "/api/queues/"+name+"/load", nil, &l)
			return l
		}
		if got := load("nowhere"); got != (apiclient.QueueLoad{Name: "nowhere"}) {
			t.Fatalf("load of a queue without tasks = %+v, want zeros", got)
		}
		for range 3 {
			e.submit(map[string]any{"type": "echo", "queue": "busy"})
		}
		e.submit(map[string]any{"type": "echo", "queue": "busy", "delay": "1h"}) // scheduled: not due, not counted
		leased, err := e.b.Lease(context.Background(), backend.LeaseRequest{WorkerID: "w1", Queues: []string{"busy"}, Max: 1, LeaseFor: time.Minute})
		if err != nil || len(leased) != 1 {
			t.Fatalf("lease: %v, %d tasks", err, len(leased))
		}
		if got, want := load("busy"), (apiclient.QueueLoad{Name: "busy", Pending: 2, Processing: 1, Active: 3}); got != want {
			t.Fatalf("load = %+v, want %+v", got, want)
		}
		e.wantStatus(200, "POST", "/api/queues/busy/pause", nil, nil)
		if got, want := load("busy"), (apiclient.QueueLoad{Name: "busy", Paused: true, Pending: 2, Processing: 1, Active: 1}); got != want {
			t.Fatalf("load of the paused queue = %+v, want %+v", got, want)
		}
		e.wantError(400, "invalid_charset", "name", "GET", "/api/queues/a%20b/load", nil)
		e.wantError(400, "invalid_unknown", "x", "GET", "/api/queues/busy/load?x=1", nil)
	})
}
