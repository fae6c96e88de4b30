package tasktypes

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/taskmill/taskmill"
)

type sleepPayload struct {
	MS   *int `json:"ms"`
	Fail bool `json:"fail,omitempty"`
	max  int
}

func (p *sleepPayload) check() error {
	switch {
	case p.MS == nil:
		return taskmill.Invalid("payload.ms", "required", "give ms, how long to sleep in milliseconds")
	case *p.MS < 0:
		return taskmill.Invalid("payload.ms", "range", "must be 0 or more, got %d", *p.MS)
	case *p.MS > p.max:
		return taskmill.Invalid("payload.ms", "range", "must be at most %d, got %d", p.max, *p.MS)
	}
	return nil
}

// SleepResult is the result of a sleep task.
type SleepResult struct {
	SleptMS int `json:"slept_ms"`
}

// errAskedToFail is what a sleep task with "fail": true ends with.
var errAskedToFail = errors.New("sleep task asked to fail (payload fail=true)")

func sleepType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "sleep",
		Description: "Sleeps for ms milliseconds, reporting progress about ten times; with fail=true it then fails, " +
			"to show retries and the dead-letter queue.",
		Schema: schema(`{"type":"object","required":["ms"],"additionalProperties":false,"properties":{
			"ms":{"type":"integer","minimum":0,"maximum":` + strconv.Itoa(cfg.MaxSleepMS) + `,"default":2000,"description":"milliseconds to sleep"},
			"fail":{"type":"boolean","default":false,"description":"fail after sleeping"}}}`),
	}, func(p *sleepPayload) { p.max = cfg.MaxSleepMS },
		func(ctx context.Context, t *taskmill.Task, p *sleepPayload) (any, error) {
			total := time.Duration(*p.MS) * time.Millisecond
			if err := sleepWithProgress(ctx, t, total); err != nil {
				return nil, err
			}
			if p.Fail {
				return nil, errAskedToFail
			}
			return SleepResult{SleptMS: *p.MS}, nil
		})
}

// sleepWithProgress waits for total, reporting progress in tenths when the
// wait is long enough for anyone to watch it (100 ms or more).
func sleepWithProgress(ctx context.Context, t *taskmill.Task, total time.Duration) error {
	steps := 10
	if total < 100*time.Millisecond {
		steps = 1
	}
	step := total / time.Duration(steps)
	timer := time.NewTimer(step)
	defer timer.Stop()
	for i := 1; i <= steps; i++ {
		select {
		case <-ctx.Done():
			return canceled(ctx)
		case <-timer.C:
		}
		if steps > 1 && i < steps {
			// A failed progress write (lease lost) is seen through ctx.
			_ = t.ReportProgress(ctx, float64(i*100/steps), "slept "+(time.Duration(i)*step).Round(time.Millisecond).String())
		}
		timer.Reset(step)
	}
	return nil
}
