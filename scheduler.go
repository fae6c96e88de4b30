package taskmill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Schedule submits a task periodically.
type Schedule struct {
	// Name identifies the schedule; it is part of every submitted task's
	// unique key, so it must stay the same across restarts and servers.
	Name string `json:"name"`
	// Spec says when: a cron expression or "@every D"; see ParseCron.
	Spec string `json:"spec"`
	// Task is what to submit each time. Its UniqueKey, ID, Delay and
	// RunAt must be empty: the scheduler sets them.
	Task TaskRequest `json:"task"`
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Schedules to run. Names must be unique.
	Schedules []Schedule
	// Location is the time zone cron fields are read in. Default UTC.
	Location *time.Location
	// Logger receives the scheduler's logs. Default slog.Default().
	Logger *slog.Logger
}

// Scheduler submits the tasks of its schedules when they come due.
//
// In a deployment the scheduler fires on the upkeep leader only
// (UpkeepConfig.Scheduler): the process that leads fires, and a new
// leader catches up the firings missed while none led (a bounded window,
// about two leadership terms). Firing times are read on the backend's
// clock (Backend.Now), so hosts whose clocks disagree agree on them. Each
// firing still yields exactly one task even if two processes fire it (an
// old leader paused past its term, or Start used in several processes):
// the task's unique key is the schedule's name and the firing time, so
// the first submit wins and the others are duplicates.
type Scheduler struct {
	client *Client
	loc    *time.Location
	log    *slog.Logger
	items  []*scheduled

	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

type scheduled struct {
	Schedule
	spec *CronSpec

	mu      sync.Mutex
	next    time.Time
	lastRun time.Time
	lastID  string
	lastErr string
}

// ScheduleStatus describes one schedule's state.
type ScheduleStatus struct {
	Name      string      `json:"name"`
	Spec      string      `json:"spec"`
	Task      TaskRequest `json:"task"`
	NextRun   time.Time   `json:"next_run,omitzero"`
	LastRun   time.Time   `json:"last_run,omitzero"`
	LastTask  string      `json:"last_task_id,omitempty"`
	LastError string      `json:"last_error,omitempty"`
}

// NewScheduler checks every schedule — its name, its spec, and its task
// request against the client's validation, including the task type's
// payload rules — so a bad schedule fails here rather than at 3 a.m.
func NewScheduler(c *Client, cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scheduler{client: c, loc: cfg.Location, log: cfg.Logger}
	seen := map[string]bool{}
	for i, sc := range cfg.Schedules {
		field := fmt.Sprintf("schedules[%d]", i)
		if err := ValidateName(field+".name", sc.Name); err != nil {
			return nil, err
		}
		if seen[sc.Name] {
			return nil, Invalid(field+".name", "unique", "schedule name %q is used twice", sc.Name)
		}
		seen[sc.Name] = true
		spec, err := ParseCron(sc.Spec)
		if err != nil {
			return nil, Invalid(field+".spec", "cron", "%v", err)
		}
		r := sc.Task
		switch {
		case r.UniqueKey != "" || r.UniqueFor != 0:
			return nil, Invalid(field+".task.unique_key", "forbidden", "the scheduler sets the unique key")
		case r.ID != "":
			return nil, Invalid(field+".task.id", "forbidden", "the scheduler submits a new task each time")
		case r.Delay != 0 || !r.RunAt.IsZero():
			return nil, Invalid(field+".task.delay", "forbidden", "a scheduled task runs when it is due")
		}
		if _, err := c.prepare(context.Background(), &r, time.Now()); err != nil {
			return nil, prefixField(field+".task", err)
		}
		if spec.Next(time.Now().In(cfg.Location)).IsZero() {
			return nil, Invalid(field+".spec", "cron", "schedule %q never fires", sc.Spec)
		}
		s.items = append(s.items, &scheduled{Schedule: sc, spec: spec, next: spec.Next(time.Now().In(cfg.Location))})
	}
	return s, nil
}

// Start begins submitting due tasks until Stop or ctx ends, in this
// process alone, whether or not it leads upkeep (a program without
// StartUpkeep). Give the scheduler to UpkeepConfig.Scheduler instead to
// fire on the leader only.
func (s *Scheduler) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.lead(ctx, 0)
	}()
	if len(s.items) > 0 {
		s.log.Info("scheduler started", "schedules", len(s.items))
	}
}

// Stop stops a scheduler started with Start and waits for a submit in
// progress.
func (s *Scheduler) Stop() {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
	})
}

// lead fires the schedules until ctx ends, on the backend's clock. It
// first catches up the firings of the last catchUp that this process has
// not fired (a new leader fires what the old one may have missed; the
// unique keys drop those it did fire).
func (s *Scheduler) lead(ctx context.Context, catchUp time.Duration) {
	if len(s.items) == 0 {
		return
	}
	clock := s.backendClock(ctx)
	from := clock().Add(-catchUp).In(s.loc)
	for _, it := range s.items {
		it.mu.Lock()
		start := from
		if it.lastRun.After(start) {
			start = it.lastRun
		}
		it.next = it.spec.Next(start)
		it.mu.Unlock()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(max(s.earliest(clock).Sub(clock()), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := clock().In(s.loc)
		for _, it := range s.items {
			it.mu.Lock()
			due := it.next
			it.mu.Unlock()
			// A due firing is submitted, then the next one after it: a
			// scheduler that fell behind (a slow submit, a pause) fires
			// each firing it missed within catchUp, once.
			for !due.IsZero() && !now.Before(due) && ctx.Err() == nil {
				s.fire(ctx, it, due)
				next := it.spec.Next(due)
				if floor := now.Add(-catchUp); next.Before(floor) {
					next = it.spec.Next(floor)
				}
				it.mu.Lock()
				it.next = next
				it.mu.Unlock()
				due = next
			}
		}
	}
}

// backendClock returns the time on the backend's clock: this host's clock
// moved by the offset between the two, measured now and again every ten
// minutes. When the backend cannot tell its time, the host's clock serves.
func (s *Scheduler) backendClock(ctx context.Context) func() time.Time {
	var (
		offset   time.Duration
		measured time.Time
	)
	measure := func() {
		measured = time.Now()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		t, err := s.client.Backend().Now(cctx)
		if err != nil {
			s.log.Warn("read the backend's clock; using this host's", "err", err)
			return
		}
		offset = time.Until(t)
	}
	measure()
	return func() time.Time {
		if time.Since(measured) > 10*time.Minute {
			measure()
		}
		return time.Now().Add(offset)
	}
}

func (s *Scheduler) earliest(clock func() time.Time) time.Time {
	var min time.Time
	for _, it := range s.items {
		it.mu.Lock()
		n := it.next
		it.mu.Unlock()
		if !n.IsZero() && (min.IsZero() || n.Before(min)) {
			min = n
		}
	}
	if min.IsZero() {
		return clock().Add(time.Hour)
	}
	return min
}

// fire submits one firing of it, due at due, and moves it to its next time.
func (s *Scheduler) fire(ctx context.Context, it *scheduled, due time.Time) {
	r := it.Task
	r.UniqueKey = fmt.Sprintf("schedule:%s:%d", it.Name, due.Unix())
	// The key only has to outlive the skew between schedulers' clocks.
	r.UniqueFor = backend.Duration(24 * time.Hour)
	info, err := s.client.Submit(ctx, r)
	var dup *DuplicateError
	it.mu.Lock()
	defer it.mu.Unlock()
	it.lastRun = due
	switch {
	case err == nil:
		it.lastID, it.lastErr = info.ID, ""
		s.log.Debug("scheduled task submitted", "schedule", it.Name, "task", info.ID, "due", due)
	case errors.As(err, &dup):
		// Another scheduler submitted this firing first.
		it.lastID, it.lastErr = dup.ExistingID, ""
	default:
		it.lastErr = err.Error()
		s.log.Error("scheduled submit failed", "schedule", it.Name, "due", due, "err", err)
	}
}

// Status lists the schedules with their next and last firing, by name.
func (s *Scheduler) Status() []ScheduleStatus {
	out := make([]ScheduleStatus, 0, len(s.items))
	now := time.Now().In(s.loc)
	for _, it := range s.items {
		it.mu.Lock()
		next := it.next
		if next.Before(now) {
			// Not leading here: the leader fires; show when it will.
			next = it.spec.Next(now)
		}
		out = append(out, ScheduleStatus{Name: it.Name, Spec: it.Spec, Task: it.Task, NextRun: next,
			LastRun: it.lastRun, LastTask: it.lastID, LastError: it.lastErr})
		it.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParseSchedules reads a JSON array of schedules, strictly: unknown fields
// are refused and errors name the field ("schedules[2].spec").
func ParseSchedules(data []byte) ([]Schedule, error) {
	var raw []json.RawMessage
	if err := DecodeStrict(data, &raw, "schedules"); err != nil {
		return nil, err
	}
	out := make([]Schedule, len(raw))
	for i, item := range raw {
		prefix := fmt.Sprintf("schedules[%d]", i)
		var w struct {
			Name string          `json:"name"`
			Spec string          `json:"spec"`
			Task json.RawMessage `json:"task"`
		}
		if err := DecodeStrict(item, &w, prefix); err != nil {
			return nil, err
		}
		if len(w.Task) == 0 {
			return nil, Invalid(prefix+".task", "required", "give the task to submit")
		}
		r, err := DecodeTaskRequest(w.Task, prefix+".task")
		if err != nil {
			return nil, err
		}
		out[i] = Schedule{Name: w.Name, Spec: w.Spec, Task: r}
	}
	return out, nil
}
