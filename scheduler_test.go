package taskmill_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

func noopMux() *taskmill.ServeMux {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("tick", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	return mux
}

// TestSchedulersAgreeOnOneTaskPerFiring runs two schedulers with the same
// schedule over one store, as two API servers over Redis would: each
// firing yields exactly one task.
func TestSchedulersAgreeOnOneTaskPerFiring(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: noopMux()})
	cfg := taskmill.SchedulerConfig{Logger: slog.New(slog.DiscardHandler), Schedules: []taskmill.Schedule{
		{Name: "every-second", Spec: "@every 1s", Task: taskmill.TaskRequest{Type: "tick", Queue: "cron"}},
	}}
	var scheds []*taskmill.Scheduler
	for range 2 {
		s, err := taskmill.NewScheduler(client, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.Start(context.Background())
		defer s.Stop()
		scheds = append(scheds, s)
	}
	var page backend.Page
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if page, err = b.List(context.Background(), backend.Filter{Queue: "cron"}); err != nil {
			t.Fatal(err)
		}
		if len(page.Tasks) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d scheduled tasks after 30s", len(page.Tasks))
		}
	}
	for _, s := range scheds {
		s.Stop()
	}
	page, _ = b.List(context.Background(), backend.Filter{Queue: "cron"})
	keys := map[string]string{}
	for _, tk := range page.Tasks {
		if !strings.HasPrefix(tk.UniqueKey, "schedule:every-second:") {
			t.Fatalf("task %s has unique key %q", tk.ID, tk.UniqueKey)
		}
		if other, dup := keys[tk.UniqueKey]; dup {
			t.Fatalf("firing %s submitted twice: %s and %s", tk.UniqueKey, other, tk.ID)
		}
		keys[tk.UniqueKey] = tk.ID
	}
	st := scheds[0].Status()
	if len(st) != 1 || st[0].LastRun.IsZero() || st[0].NextRun.IsZero() || st[0].LastTask == "" {
		t.Fatalf("status %+v", st)
	}
}

func TestNewSchedulerRefusesBadSchedules(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: noopMux(), RejectUnknownTypes: true})
	tick := taskmill.TaskRequest{Type: "tick"}
	for _, tc := range []struct {
		name  string
		s     []taskmill.Schedule
		field string
	}{
		{"bad name", []taskmill.Schedule{{Name: "a b", Spec: "@daily", Task: tick}}, "schedules[0].name"},
		{"twice", []taskmill.Schedule{{Name: "a", Spec: "@daily", Task: tick}, {Name: "a", Spec: "@hourly", Task: tick}}, "schedules[1].name"},
		{"bad spec", []taskmill.Schedule{{Name: "a", Spec: "61 * * * *", Task: tick}}, "schedules[0].spec"},
		{"never", []taskmill.Schedule{{Name: "a", Spec: "0 0 30 2 *", Task: tick}}, "schedules[0].spec"},
		{"unknown type", []taskmill.Schedule{{Name: "a", Spec: "@daily", Task: taskmill.TaskRequest{Type: "nope"}}}, "schedules[0].task.type"},
		{"own unique key", []taskmill.Schedule{{Name: "a", Spec: "@daily", Task: taskmill.TaskRequest{Type: "tick", UniqueKey: "k"}}}, "schedules[0].task.unique_key"},
	} {
		_, err := taskmill.NewScheduler(client, taskmill.SchedulerConfig{Schedules: tc.s})
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: err = %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
}

func TestParseSchedules(t *testing.T) {
	got, err := taskmill.ParseSchedules([]byte(`[{"name":"nightly","spec":"0 3 * * *","task":{"type":"sleep","payload":{"ms":10},"queue":"maintenance","timeout":"1m"}}]`))
	if err != nil || len(got) != 1 || got[0].Task.Queue != "maintenance" || got[0].Task.Timeout.Std() != time.Minute {
		t.Fatalf("ParseSchedules: %+v, %v", got, err)
	}
	for body, field := range map[string]string{
		`{}`:                             "schedules",
		`[{"name":"a","spec":"@daily"}]`: "schedules[0].task",
		`[{"name":"a","spec":"@daily","task":{"typ":"x"}}]`:   "schedules[0].task.typ",
		`[{"name":"a","spec":"@daily","task":{},"extra":1}]`:  "schedules[0].extra",
		`[{"name":"a","spec":"@daily","task":{"delay":"x"}}]`: "schedules[0].task.delay",
	} {
		_, err := taskmill.ParseSchedules([]byte(body))
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: err = %v, want a validation error on %s", body, err, field)
		}
	}
}
