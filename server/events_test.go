package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// dialEvents opens the event stream with the given query.
func (e *env) dialEvents(query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.URL, "http") + "/api/events" + query
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header})
	if resp != nil && resp.StatusCode == http.StatusSwitchingProtocols {
		covered.Store("events", true)
	}
	return conn, resp, err
}

// nextEvent reads events until one satisfies ok, failing after 30s.
func nextEvent(t *testing.T, conn *websocket.Conn, ok func(apiclient.Event) bool) apiclient.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		var ev apiclient.Event
		if err := json.Unmarshal(msg, &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, msg)
		}
		checkEvent(t, msg)
		if ok(ev) {
			return ev
		}
	}
}

// checkEvent validates an event against components/schemas/Event.
func checkEvent(t *testing.T, msg []byte) {
	t.Helper()
	var inst any
	if err := json.Unmarshal(msg, &inst); err != nil {
		t.Fatal(err)
	}
	if err := schemaAt(t, "/components/schemas/Event").Validate(inst); err != nil {
		t.Errorf("event does not match the documented Event schema: %v\n%s", err, msg)
	}
}

func TestEventsFollowATasksWholeLife(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t))
		all, _, err := e.dialEvents("", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer all.CloseNow()
		other := e.submit(map[string]any{"type": "echo", "queue": "math"})
		// The filtered stream opens before the task exists (its id is
		// chosen here), so it sees the task's whole life whatever the
		// machine's load; it must see only that task.
		taskID := "whole-life-" + strings.ReplaceAll(t.Name(), "/", "-")
		one, _, err := e.dialEvents("?task="+taskID, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer one.CloseNow()
		task := e.submit(map[string]any{"id": taskID, "type": "slow", "payload": map[string]any{"ms": 300}, "delay": "200ms"})
		var states []backend.State
		var sawProgress bool
		for {
			ev := nextEvent(t, one, func(apiclient.Event) bool { return true })
			if ev.Kind != backend.EventTaskUpdate || ev.Task.ID != task.ID {
				t.Fatalf("the ?task= stream delivered %+v", ev)
			}
			if len(states) == 0 || states[len(states)-1] != ev.Task.State {
				states = append(states, ev.Task.State)
			}
			if ev.Task.Progress != nil && ev.Task.Progress.Percent == 50 {
				sawProgress = true
			}
			if ev.Task.State == backend.StateCompleted {
				if string(ev.Task.Result) != `{"slept_ms":300}` {
					t.Fatalf("completed event result = %s", ev.Task.Result)
				}
				break
			}
		}
		if strings.Join(stateNames(states), ",") != "scheduled,pending,processing,completed" || !sawProgress {
			t.Fatalf("task states seen: %v, progress seen: %v", states, sawProgress)
		}
		// The unfiltered stream saw the other task too.
		nextEvent(t, all, func(ev apiclient.Event) bool {
			return ev.Kind == backend.EventTaskUpdate && ev.Task.ID == other.ID && ev.Task.State == backend.StateCompleted
		})

		// A queue filter, queue events and a failing task's error.
		mathOnly, _, err := e.dialEvents("?queue=math", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mathOnly.CloseNow()
		e.submit(map[string]any{"type": "echo"}) // default queue: filtered out
		failing := e.submit(map[string]any{"type": "fail", "queue": "math", "max_attempts": 1})
		ev := nextEvent(t, mathOnly, func(ev apiclient.Event) bool {
			if ev.Kind == backend.EventTaskUpdate && ev.Task.Queue != "math" {
				t.Fatalf("?queue=math delivered %+v", ev.Task)
			}
			return ev.Kind == backend.EventTaskUpdate && ev.Task.ID == failing.ID && ev.Task.State == backend.StateFailed
		})
		if ev.Task.Error != "this task always fails" {
			t.Fatalf("failed event error = %q", ev.Task.Error)
		}
		e.wantStatus(200, "POST", "/api/queues/math/pause", nil, nil)
		nextEvent(t, mathOnly, func(ev apiclient.Event) bool { return ev.Kind == backend.EventQueueUpdate && ev.Queue == "math" })
		// Worker events reach the unfiltered stream.
		w, err := newTestWorker(e.b, 1, map[string]int{"other": 1})
		if err != nil {
			t.Fatal(err)
		}
		nextEvent(t, all, func(ev apiclient.Event) bool { return ev.Kind == backend.EventWorkerUpdate && ev.Worker.ID == w.ID() })
		w.Stop(context.Background())

		// Bad filters are refused before the upgrade.
		e.wantError(400, "invalid_charset", "task", "GET", "/api/events?task=a%20b", nil)
		e.wantError(400, "invalid_unknown", "tsk", "GET", "/api/events?tsk=1", nil)
	})
}

// TestEventsSeveralServers runs two API servers over one backend: a
// client of either sees the transitions made through the other (on Redis
// these are different subscriptions of one shared store).
func TestEventsSeveralServers(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		b := backendKinds[0].open(t)
		severalServers(t, b, b) // one process owns the file: both servers share it
	})
	t.Run("redis", func(t *testing.T) {
		srv := testredis.Start(t, testredis.Options{})
		url := fmt.Sprintf("%s?prefix=multi%d", srv.URL(), redisSeq.Add(1))
		open := func() backend.Backend {
			b, err := redis.Open(context.Background(), url, redis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
		severalServers(t, open(), open()) // two connections, two subscriptions, one store
	})
}

func severalServers(t *testing.T, b1, b2 backend.Backend) {
	{
		e1 := newEnv(t, b1)
		e2 := newEnv(t, b2, withoutWorker())
		c2, _, err := e2.dialEvents("", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.CloseNow()
		task := e1.submit(map[string]any{"type": "echo", "payload": map[string]any{"x": 1}})
		nextEvent(t, c2, func(ev apiclient.Event) bool {
			return ev.Kind == backend.EventTaskUpdate && ev.Task.ID == task.ID && ev.Task.State == backend.StateCompleted
		})
		// And the other way: a cancel through server 2 reaches server 1's clients.
		c1, _, err := e1.dialEvents("?queue=parked", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.CloseNow()
		parked := e2.submit(map[string]any{"type": "echo", "queue": "parked"})
		e2.wantStatus(200, "POST", "/api/tasks/"+parked.ID+"/cancel", nil, nil)
		nextEvent(t, c1, func(ev apiclient.Event) bool {
			return ev.Kind == backend.EventTaskUpdate && ev.Task.ID == parked.ID && ev.Task.State == backend.StateCanceled
		})
	}
}

func stateNames(states []backend.State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}
