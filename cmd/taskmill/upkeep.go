package main

import (
	"flag"
	"time"
)

// upkeepFlags are the upkeep settings of serve and worker beyond retention
// and schedules. Every process that shares a backend is a candidate for
// upkeep leadership and the one elected applies its own settings, so
// every process should get the same ones (the env variables make that
// easy).
type upkeepFlags struct {
	forgetQueuesAfter time.Duration
}

func upkeepFlagSet(fs *flag.FlagSet) *upkeepFlags {
	f := &upkeepFlags{}
	fs.DurationVar(&f.forgetQueuesAfter, "forget-queues-after", envDuration("TASKMILL_FORGET_QUEUES_AFTER", 7*24*time.Hour),
		"forget a queue that holds no tasks and saw no submit, lease, pause or resume this long; 0 remembers queues forever (env TASKMILL_FORGET_QUEUES_AFTER)")
	return f
}

func (f *upkeepFlags) check() error {
	if f.forgetQueuesAfter < 0 {
		return usagef("--forget-queues-after must not be negative")
	}
	return nil
}
