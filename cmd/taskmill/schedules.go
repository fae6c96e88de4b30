package main

import (
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/taskmill/taskmill"
)

// scheduleFlags are serve's periodic-scheduler settings.
type scheduleFlags struct {
	file, timezone string
}

func scheduleFlagSet(fs *flag.FlagSet) *scheduleFlags {
	f := &scheduleFlags{}
	fs.StringVar(&f.file, "schedules", envString("TASKMILL_SCHEDULES", ""), "JSON file of periodic schedules: [{\"name\",\"spec\",\"task\":{…}}] (env TASKMILL_SCHEDULES)")
	fs.StringVar(&f.timezone, "timezone", envString("TASKMILL_TIMEZONE", "UTC"), "time zone the cron specs of --schedules are read in, e.g. Europe/Berlin (env TASKMILL_TIMEZONE)")
	return f
}

// load reads the schedule file and checks every schedule against the
// client's validation (a bad one is a usage error naming its field).
// Without --schedules it makes a scheduler with none. The scheduler fires
// on the upkeep leader (taskmill.UpkeepConfig.Scheduler).
func (f *scheduleFlags) load(client *taskmill.Client, log *slog.Logger) (*taskmill.Scheduler, error) {
	loc, err := time.LoadLocation(f.timezone)
	if err != nil {
		return nil, usagef("--timezone %q: %v", f.timezone, err)
	}
	var schedules []taskmill.Schedule
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return nil, usagef("--schedules: %v", err)
		}
		if schedules, err = taskmill.ParseSchedules(data); err != nil {
			return nil, usagef("--schedules %s: %v", f.file, err)
		}
	}
	sched, err := taskmill.NewScheduler(client, taskmill.SchedulerConfig{Schedules: schedules, Location: loc, Logger: log})
	if err != nil {
		return nil, usagef("--schedules %s: %v", f.file, err)
	}
	if len(schedules) > 0 {
		log.Info("periodic schedules loaded", "file", f.file, "schedules", len(schedules), "timezone", loc.String())
	}
	return sched, nil
}
