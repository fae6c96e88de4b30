package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

func init() {
	commands["submit"] = command{summary: "submit a task to the server (--wait follows it to the end)", run: runSubmit}
}

const submitUsage = "Usage: taskmill submit TYPE [PAYLOAD-JSON | @FILE | -] [flags]"

// runSubmit: taskmill submit TYPE [PAYLOAD-JSON | @FILE | -] [flags].
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("submit")
	api := apiFlagSet(fs)
	var req taskmill.TaskRequest
	var delay, timeout, uniqueFor, waitTimeout time.Duration
	var runAt, deadline string
	var wait bool
	fs.StringVar(&req.Queue, "queue", "", "queue (default \"default\")")
	fs.IntVar(&req.Priority, "priority", 0, "0–1000, higher runs first")
	fs.DurationVar(&delay, "delay", 0, "run after this long, like 30s or 2h")
	fs.StringVar(&runAt, "run-at", "", "run at this RFC 3339 time, like 2030-01-02T15:04:05Z")
	fs.IntVar(&req.MaxAttempts, "max-attempts", 0, "attempts allowed in all (default 5, or the type's)")
	fs.DurationVar(&timeout, "timeout", 0, "bound on one attempt (default the type's or the worker's)")
	fs.StringVar(&deadline, "deadline", "", "no attempt runs past this RFC 3339 time")
	fs.StringVar(&req.UniqueKey, "unique-key", "", "refuse the submit while another task holds this key")
	fs.DurationVar(&uniqueFor, "unique-for", 0, "how long the unique key is held (default 24h)")
	fs.StringVar(&req.ID, "id", "", "the task id (default a new UUIDv7)")
	fs.BoolVar(&wait, "wait", false, "follow the task with a progress bar and print its result; exit 1 if it fails")
	fs.DurationVar(&waitTimeout, "wait-timeout", 0, "with --wait, give up after this long (exit 6); 0 waits forever")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return helpOrErr(err, fs, stderr, submitUsage)
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("want TYPE and an optional PAYLOAD-JSON, got %d arguments (taskmill submit -h)", len(pos))
	}
	req.Type = pos[0]
	if len(pos) == 2 {
		if req.Payload, err = readPayload(pos[1]); err != nil {
			return err
		}
	}
	req.Delay, req.Timeout, req.UniqueFor = backend.Duration(delay), backend.Duration(timeout), backend.Duration(uniqueFor)
	if req.RunAt, err = parseTimeFlag("--run-at", runAt); err != nil {
		return err
	}
	if req.Deadline, err = parseTimeFlag("--deadline", deadline); err != nil {
		return err
	}
	if waitTimeout < 0 {
		return usagef("--wait-timeout must not be negative")
	}
	// Check locally what can be checked, for a quick and precise answer;
	// the server checks again (and the payload against the type).
	if err := req.Validate(64 << 20); err != nil {
		return usagef("%v", err)
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	sctx, cancel := withCallTimeout(ctx)
	task, err := client.Submit(sctx, req)
	cancel()
	if err != nil {
		return err
	}
	if !wait {
		if api.json {
			return printJSON(stdout, task)
		}
		fmt.Fprintf(stdout, "%s\n", task.ID)
		fmt.Fprintf(stderr, "submitted %s task %s to queue %s (%s)\n", task.Type, task.ID, task.Queue, task.State)
		return nil
	}
	return waitAndReport(ctx, client, task, waitTimeout, api.json, stdout, stderr)
}

// readPayload reads the payload argument: JSON, @file, or - for stdin.
func readPayload(arg string) (json.RawMessage, error) {
	var raw []byte
	var err error
	switch {
	case arg == "-":
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	case strings.HasPrefix(arg, "@"):
		raw, err = os.ReadFile(arg[1:])
	default:
		raw = []byte(arg)
	}
	if err != nil {
		return nil, usagef("payload: %v", err)
	}
	if !json.Valid(raw) {
		return nil, usagef("payload is not valid JSON: %s", preview(raw))
	}
	return raw, nil
}

func preview(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("%s %q: want an RFC 3339 time like 2030-01-02T15:04:05Z", name, v)
	}
	return t, nil
}

// waitAndReport follows a task to its end with a progress bar on stderr,
// then prints its result (or, with --json, the whole task) on stdout.
func waitAndReport(ctx context.Context, client *apiclient.Client, task *apiclient.Task, limit time.Duration, asJSON bool, stdout, stderr io.Writer) error {
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	bar := newProgressBar(stderr)
	final, err := client.WaitTask(ctx, task.ID, 500*time.Millisecond, bar.update)
	bar.done()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return exitError{exitWaitTimeout, fmt.Sprintf("task %s did not finish within %s; it goes on (taskmill task get %s)", task.ID, limit, task.ID)}
		}
		return err
	}
	if asJSON {
		if err := printJSON(stdout, final); err != nil {
			return err
		}
	} else if final.State == backend.StateCompleted {
		if len(final.Result) > 0 {
			fmt.Fprintln(stdout, string(final.Result))
		}
	}
	switch final.State {
	case backend.StateCompleted:
		return nil
	case backend.StateFailed:
		return exitError{exitFailure, fmt.Sprintf("task %s failed after %d attempt(s): %s", final.ID, final.Attempt, firstLine(final.LastError))}
	}
	return exitError{exitFailure, fmt.Sprintf("task %s was %s", final.ID, final.State)}
}
