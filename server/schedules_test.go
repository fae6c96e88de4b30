package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/server"
)

// TestSchedulesEndpoint runs a real scheduler and reads its state back.
func TestSchedulesEndpoint(t *testing.T) {
	b := backendKinds[0].open(t)
	var sched *taskmill.Scheduler
	e := newEnv(t, b, withConfig(func(c *server.Config) {
		c.Schedules = func() []taskmill.ScheduleStatus { return sched.Status() }
	}))
	var err error
	sched, err = taskmill.NewScheduler(e.client, taskmill.SchedulerConfig{Logger: quietLogger(), Schedules: []taskmill.Schedule{
		{Name: "tick", Spec: "@every 1s", Task: taskmill.TaskRequest{Type: "echo", Queue: "math"}},
		{Name: "nightly", Spec: "0 3 * * *", Task: taskmill.TaskRequest{Type: "echo"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sched.Start(context.Background())
	defer sched.Stop()

	var list apiclient.ScheduleList
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.wantStatus(200, "GET", "/api/schedules", nil, &list)
		if len(list.Schedules) == 2 && list.Schedules[1].LastTask != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the @every 1s schedule never fired: %+v", list.Schedules)
		}
		time.Sleep(50 * time.Millisecond)
	}
	nightly, tick := list.Schedules[0], list.Schedules[1]
	if nightly.Name != "nightly" || nightly.NextRun.Hour() != 3 || nightly.NextRun.Minute() != 0 || !nightly.LastRun.IsZero() {
		t.Fatalf("nightly: %+v", nightly)
	}
	if tick.Spec != "@every 1s" || tick.Task.Queue != "math" {
		t.Fatalf("tick: %+v", tick)
	}
	// The task the schedule submitted is real and runs.
	e.waitState(tick.LastTask, backend.StateCompleted)
	e.wantError(400, "invalid_unknown", "x", "GET", "/api/schedules?x=1", nil)
}

// TestSchedulesEndpointEmpty: a server with no scheduler lists none.
func TestSchedulesEndpointEmpty(t *testing.T) {
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	var list apiclient.ScheduleList
	e.wantStatus(200, "GET", "/api/schedules", nil, &list)
	if list.Schedules == nil || len(list.Schedules) != 0 {
		t.Fatalf("schedules %+v, want an empty list", list.Schedules)
	}
}
