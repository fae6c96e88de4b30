package taskmill_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
)

// TestSchedulerOnLeaderCatchesUpOnBackendClock: the scheduler fires on the
// upkeep leader at firing times of the backend's clock (here years away
// from this host's), a new leader catches up the firings of the last 30 s,
// and a second leader catching up the same firings adds no task: each
// firing is one task.
func TestSchedulerOnLeaderCatchesUpOnBackendClock(t *testing.T) {
	clock := backendtest.NewClock(time.Time{})
	m := model.New(model.Options{Clock: clock})
	t.Cleanup(func() { m.Close() })
	client := taskmill.NewClient(m, taskmill.ClientConfig{})
	sched := func() *taskmill.Scheduler {
		s, err := taskmill.NewScheduler(client, taskmill.SchedulerConfig{Schedules: []taskmill.Schedule{
			{Name: "tick", Spec: "@hourly", Task: taskmill.TaskRequest{Type: "x", Queue: "ticks"}},
			{Name: "fast", Spec: "@every 1s", Task: taskmill.TaskRequest{Type: "x", Queue: "ticks"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	firings := func() map[string]int {
		page, err := client.List(context.Background(), backend.Filter{Queue: "ticks", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, task := range page.Tasks {
			out[task.UniqueKey]++
		}
		return out
	}
	// The test clock stands still: every firing of the last 30 s of
	// backend time is due, none later.
	start := clock.Now()
	up := taskmill.StartUpkeep(context.Background(), m, taskmill.UpkeepConfig{ID: "first", LeaderTTL: time.Second, Scheduler: sched()})
	await(t, "the catch-up", func() bool { return len(firings()) >= 30 })
	up.Stop()
	f := firings()
	for key, n := range f {
		sec, err := strconv.ParseInt(key[strings.LastIndex(key, ":")+1:], 10, 64)
		if err != nil || n != 1 {
			t.Fatalf("key %q: %d tasks, %v", key, n, err)
		}
		at := time.Unix(sec, 0)
		if at.After(start.Add(time.Minute)) || at.Before(start.Add(-31*time.Second)) {
			t.Fatalf("firing %s is not within the last 30 s of the backend's clock (%s)", at.UTC(), start)
		}
	}
	// A second leader catches up the same window: duplicates, no task.
	clock.Advance(2 * time.Second)
	up = taskmill.StartUpkeep(context.Background(), m, taskmill.UpkeepConfig{ID: "second", LeaderTTL: time.Second, Scheduler: sched()})
	await(t, "the second leader's firings", func() bool { return len(firings()) >= len(f)+2 })
	up.Stop()
	for key, n := range firings() {
		if n != 1 {
			t.Fatalf("firing %s made %d tasks", key, n)
		}
	}
}

// await polls cond until it holds; 30 s is only a hang guard.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}
