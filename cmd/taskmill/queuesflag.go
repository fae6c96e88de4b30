package main

import (
	"flag"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

// parseQueueWeights reads "a=3,b=1" (a bare name has weight 1).
func parseQueueWeights(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight := part, 1
		if i := strings.IndexByte(part, '='); i >= 0 {
			name = part[:i]
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n < 1 || n > 1000 {
				return nil, usagef("--queues: weight of %q must be a whole number from 1 to 1000", name)
			}
			weight = n
		}
		if err := taskmill.ValidateName("queues", name); err != nil {
			return nil, usagef("--queues: %v", err)
		}
		out[name] = weight
	}
	if len(out) == 0 {
		return nil, usagef("--queues: no queue named")
	}
	return out, nil
}

// parseStrictQueues reads "a,b,c".
func parseStrictQueues(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if err := taskmill.ValidateName("strict", name); err != nil {
			return nil, usagef("--strict: %v", err)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, usagef("--strict: no queue named")
	}
	return out, nil
}

// workerFlags are the flags of the workers serve runs in its process and
// of `taskmill worker`: queues, leases, shutdown and logging. Both
// commands register them with workerFlagSet and call check after parsing.
type workerFlags struct {
	fs                  *flag.FlagSet
	queues, strict      string
	leaseDuration       time.Duration
	shutdownTimeout     time.Duration
	logLevel, logFormat string

	// Filled in by check.
	weights     map[string]int
	strictOrder []string
}

func workerFlagSet(fs *flag.FlagSet) *workerFlags {
	w := &workerFlags{fs: fs}
	fs.StringVar(&w.queues, "queues", envString("TASKMILL_QUEUES", "default=1"), "queues the workers take from, with weights: a=3,b=1 (env TASKMILL_QUEUES)")
	fs.StringVar(&w.strict, "strict", envString("TASKMILL_STRICT", ""), "take from these queues in strict order instead: a,b (env TASKMILL_STRICT)")
	fs.DurationVar(&w.leaseDuration, "lease-duration", envDuration("TASKMILL_LEASE_DURATION", 15*time.Second), "how long a lease lasts without a heartbeat; a dead worker's tasks run again after it (env TASKMILL_LEASE_DURATION)")
	fs.DurationVar(&w.shutdownTimeout, "shutdown-timeout", envDuration("TASKMILL_SHUTDOWN_TIMEOUT", 30*time.Second), "how long a shutdown waits for running tasks before handing them back (env TASKMILL_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&w.logLevel, "log-level", envString("TASKMILL_LOG_LEVEL", "info"), "debug, info, warn or error (env TASKMILL_LOG_LEVEL)")
	fs.StringVar(&w.logFormat, "log-format", envString("TASKMILL_LOG_FORMAT", "text"), "text or json (env TASKMILL_LOG_FORMAT)")
	return w
}

// check refuses bad values, each a usage error naming its flag, and
// reads the queues. --queues on the command line with --strict is an
// error; TASKMILL_QUEUES (a default) gives way to --strict.
func (w *workerFlags) check() error {
	switch {
	case w.leaseDuration < 500*time.Millisecond:
		return usagef("--lease-duration must be at least 500ms, got %s", w.leaseDuration)
	case w.shutdownTimeout < 0:
		return usagef("--shutdown-timeout must not be negative")
	}
	if _, err := newLogger(io.Discard, w.logLevel, w.logFormat); err != nil {
		return err
	}
	queuesSet := false
	w.fs.Visit(func(f *flag.Flag) { queuesSet = queuesSet || f.Name == "queues" })
	var err error
	switch {
	case w.strict != "" && queuesSet:
		return usagef("give --queues or --strict, not both")
	case w.strict != "":
		w.strictOrder, err = parseStrictQueues(w.strict)
	default:
		w.weights, err = parseQueueWeights(w.queues)
	}
	return err
}

// config is the part of a WorkerConfig the flags give.
func (w *workerFlags) config(log *slog.Logger) taskmill.WorkerConfig {
	return taskmill.WorkerConfig{Queues: w.weights, StrictOrder: w.strictOrder, LeaseDuration: w.leaseDuration,
		ShutdownTimeout: w.shutdownTimeout, Logger: log}
}

// logger is the process logger the flags ask for (check has vetted them).
func (w *workerFlags) logger(out io.Writer) (*slog.Logger, error) {
	return newLogger(out, w.logLevel, w.logFormat)
}
