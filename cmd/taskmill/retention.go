package main

import (
	"flag"
	"time"

	"github.com/taskmill/taskmill"
)

// retentionFlagSet adds how long serve keeps finished tasks.
func retentionFlagSet(fs *flag.FlagSet) *taskmill.Retention {
	r := taskmill.DefaultRetention
	fs.DurationVar(&r.Completed, "retain-completed", envDuration("TASKMILL_RETAIN_COMPLETED", r.Completed), "delete completed tasks this long after they finish; 0 keeps them (env TASKMILL_RETAIN_COMPLETED)")
	fs.DurationVar(&r.Failed, "retain-failed", envDuration("TASKMILL_RETAIN_FAILED", r.Failed), "delete failed tasks (dead letters) this long after they fail; 0 keeps them (env TASKMILL_RETAIN_FAILED)")
	fs.DurationVar(&r.Canceled, "retain-canceled", envDuration("TASKMILL_RETAIN_CANCELED", r.Canceled), "delete canceled tasks this long after they are canceled; 0 keeps them (env TASKMILL_RETAIN_CANCELED)")
	return &r
}

// checkRetention refuses negative retention periods, naming the first
// such flag in a fixed order.
func checkRetention(r *taskmill.Retention) error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"--retain-completed", r.Completed}, {"--retain-failed", r.Failed}, {"--retain-canceled", r.Canceled}} {
		if f.d < 0 {
			return usagef("%s must not be negative", f.name)
		}
	}
	return nil
}
