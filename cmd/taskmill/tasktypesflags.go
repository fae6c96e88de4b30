package main

import (
	"flag"

	"github.com/taskmill/taskmill/tasktypes"
)

// taskTypeFlags adds the built-in task types' settings to fs, with
// TASKMILL_* environment defaults, and returns the config they fill in.
// serve and worker both use it, so both run the types the same way.
func taskTypeFlags(fs *flag.FlagSet, dataDir *string) func() tasktypes.Config {
	var cfg tasktypes.Config
	fs.IntVar(&cfg.MaxFibonacciN, "max-fibonacci-n", envInt("TASKMILL_MAX_FIBONACCI_N", 100_000), "largest n a fibonacci task may ask for (env TASKMILL_MAX_FIBONACCI_N)")
	return func() tasktypes.Config {
		cfg.DataDir = *dataDir
		return cfg
	}
}
