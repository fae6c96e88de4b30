package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

func init() {
	commands["task"] = command{summary: "inspect and manage tasks: get | ls | cancel | retry | delete", run: runTask}
}

const taskUsage = `Usage: taskmill task get ID [--json]
       taskmill task ls [--state S] [--queue Q] [--type T] [--q TEXT] [--limit N] [--cursor C] [--all] [--json]
       taskmill task cancel|retry|delete ID... [--json]
       taskmill task cancel|retry|delete --state S [--queue Q] [--type T] [--q TEXT] [--older-than D] [--limit N] [--dry-run] [--json]`

func runTask(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: get, ls, cancel, retry or delete\n%s", taskUsage)
	}
	switch args[0] {
	case "get":
		return taskGet(ctx, args[1:], stdout, stderr)
	case "ls", "list":
		return taskList(ctx, args[1:], stdout, stderr)
	case "cancel", "retry", "delete":
		return taskAction(ctx, args[0], args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, taskUsage)
		return nil
	}
	return usagef("unknown subcommand %q\n%s", args[0], taskUsage)
}

func helpOrErr(err error, fs *flag.FlagSet, stderr io.Writer, usage string) error {
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stderr)
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return err
}

func taskGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("task get")
	api := apiFlagSet(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return helpOrErr(err, fs, stderr, taskUsage)
	}
	if len(pos) != 1 {
		return usagef("task get wants one task id")
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	cctx, cancel := withCallTimeout(ctx)
	defer cancel()
	t, err := client.GetTask(cctx, pos[0])
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(stdout, t)
	}
	printTask(stdout, t)
	return nil
}

// printTask shows one task for people: fields, then the attempt history.
func printTask(w io.Writer, t *apiclient.Task) {
	tb := newTable(w, "FIELD", "VALUE")
	tb.row("id", t.ID)
	tb.row("type", t.Type)
	tb.row("queue", t.Queue)
	tb.row("state", string(t.State))
	tb.row("priority", strconv.Itoa(t.Priority))
	tb.row("attempts", fmt.Sprintf("%d of %d", t.Attempt, t.MaxAttempts))
	tb.row("created", t.CreatedAt.Format(time.RFC3339)+" ("+ago(t.CreatedAt)+")")
	if !t.RunAt.IsZero() {
		tb.row("run at", t.RunAt.Format(time.RFC3339)+" ("+ago(t.RunAt)+")")
	}
	if !t.StartedAt.IsZero() {
		tb.row("started", t.StartedAt.Format(time.RFC3339))
	}
	if !t.FinishedAt.IsZero() {
		tb.row("finished", t.FinishedAt.Format(time.RFC3339))
	}
	if t.WorkerID != "" {
		tb.row("worker", t.WorkerID)
	}
	if t.Progress != nil {
		tb.row("progress", fmt.Sprintf("%.0f%% %s", t.Progress.Percent, t.Progress.Message))
	}
	if len(t.Payload) > 0 {
		tb.row("payload", string(t.Payload))
	}
	if len(t.Result) > 0 {
		tb.row("result", string(t.Result))
	}
	if t.LastError != "" {
		tb.row("last error", firstLine(t.LastError))
	}
	tb.flush()
	if len(t.Attempts) > 0 {
		fmt.Fprintln(w)
		at := newTable(w, "ATTEMPT", "WORKER", "STARTED", "TOOK", "OUTCOME", "ERROR")
		for _, a := range t.Attempts {
			took := "-"
			if !a.FinishedAt.IsZero() {
				took = short(a.FinishedAt.Sub(a.StartedAt))
			}
			at.row(strconv.Itoa(a.Number), orDash(a.WorkerID), a.StartedAt.Format(time.RFC3339), took, orDash(a.Outcome), orDash(firstLine(a.Error)))
		}
		at.flush()
	}
}

// filterFlags are the task filters of ls and of the bulk actions.
type filterFlags struct {
	state, queue, typ, query string
	limit                    int
}

func filterFlagSet(fs *flag.FlagSet, limitDefault int) *filterFlags {
	f := &filterFlags{}
	fs.StringVar(&f.state, "state", "", "only tasks in this state: pending, scheduled, processing, retrying, completed, failed, canceled")
	fs.StringVar(&f.queue, "queue", "", "only tasks of this queue")
	fs.StringVar(&f.typ, "type", "", "only tasks of this type")
	fs.StringVar(&f.query, "q", "", "only tasks whose id, type or payload contains this text")
	fs.IntVar(&f.limit, "limit", limitDefault, "at most this many tasks")
	return f
}

func (f *filterFlags) check() error {
	if f.state != "" && !backend.State(f.state).Valid() {
		return usagef("--state %q: want pending, scheduled, processing, retrying, completed, failed or canceled", f.state)
	}
	return nil
}

func (f *filterFlags) empty() bool {
	return f.state == "" && f.queue == "" && f.typ == "" && f.query == ""
}

func taskList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("task ls")
	api := apiFlagSet(fs)
	f := filterFlagSet(fs, 50)
	cursor := fs.String("cursor", "", "continue after the page that printed this cursor")
	all := fs.Bool("all", false, "follow the cursors to the last page")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return helpOrErr(err, fs, stderr, taskUsage)
	}
	if len(pos) > 0 {
		return usagef("task ls takes no arguments, got %q", pos[0])
	}
	if err := f.check(); err != nil {
		return err
	}
	if f.limit < 1 || f.limit > 1000 {
		return usagef("--limit must be between 1 and 1000, got %d", f.limit)
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	opts := apiclient.ListOptions{State: f.state, Queue: f.queue, Type: f.typ, Query: f.query, Cursor: *cursor, Limit: f.limit}
	var tasks []*apiclient.Task
	next := ""
	for {
		cctx, cancel := withCallTimeout(ctx)
		page, err := client.ListTasks(cctx, opts)
		cancel()
		if err != nil {
			return err
		}
		tasks = append(tasks, page.Tasks...)
		next = page.NextCursor
		if !*all || next == "" {
			break
		}
		opts.Cursor = next
	}
	if api.json {
		return printJSON(stdout, apiclient.TaskList{Tasks: nonNil(tasks), NextCursor: next})
	}
	tb := newTable(stdout, "ID", "TYPE", "QUEUE", "STATE", "ATTEMPT", "CREATED", "ERROR")
	for _, t := range tasks {
		tb.row(t.ID, t.Type, t.Queue, string(t.State), fmt.Sprintf("%d/%d", t.Attempt, t.MaxAttempts), ago(t.CreatedAt), orDash(firstLine(t.LastError)))
	}
	tb.flush()
	if next != "" {
		fmt.Fprintf(stderr, "more tasks: taskmill task ls --cursor %s (or --all)\n", next)
	}
	return nil
}

func nonNil(ts []*apiclient.Task) []*apiclient.Task {
	if ts == nil {
		return []*apiclient.Task{}
	}
	return ts
}

// taskAction cancels, retries or deletes tasks named by id, or every task
// a filter selects (through the bulk endpoint).
func taskAction(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("task " + action)
	api := apiFlagSet(fs)
	f := filterFlagSet(fs, 1000)
	olderThan := fs.Duration("older-than", 0, "only tasks that finished (or, if not final, were created) longer ago than this")
	dryRun := fs.Bool("dry-run", false, "with a filter: show what would be done, do nothing")
	ids, err := parseArgs(fs, args)
	if err != nil {
		return helpOrErr(err, fs, stderr, taskUsage)
	}
	if err := f.check(); err != nil {
		return err
	}
	byFilter := !f.empty() || *olderThan > 0
	switch {
	case len(ids) == 0 && !byFilter:
		return usagef("task %s wants task ids or a filter (--state, --queue, --type, --q, --older-than)", action)
	case len(ids) > 0 && byFilter:
		return usagef("task %s takes task ids or a filter, not both", action)
	case *dryRun && !byFilter:
		return usagef("--dry-run goes with a filter")
	case f.limit < 1 || f.limit > 10_000:
		return usagef("--limit must be between 1 and 10000, got %d", f.limit)
	case *olderThan < 0:
		return usagef("--older-than must not be negative")
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	if byFilter {
		cctx, cancel := withCallTimeout(ctx)
		defer cancel()
		res, err := client.Bulk(cctx, apiclient.BulkRequest{Action: action, Limit: f.limit, DryRun: *dryRun,
			Filter: apiclient.BulkFilter{State: backend.State(f.state), Queue: f.queue, Type: f.typ, Query: f.query, OlderThan: backend.Duration(*olderThan)}})
		if err != nil {
			return err
		}
		if api.json {
			return printJSON(stdout, res)
		}
		verb := map[string]string{"cancel": "canceled", "retry": "retried", "delete": "deleted"}[action]
		if res.DryRun {
			fmt.Fprintf(stdout, "would %s %d task(s)\n", action, res.Matched)
		} else {
			fmt.Fprintf(stdout, "%s %d of %d matching task(s)\n", verb, res.Succeeded, res.Matched)
		}
		for _, fl := range res.Failed {
			fmt.Fprintf(stderr, "%s: %s: %s\n", fl.ID, fl.Code, fl.Message)
		}
		if res.NextCursor != "" {
			fmt.Fprintf(stderr, "stopped at the limit of %d; run the command again for the rest\n", f.limit)
		}
		if len(res.Failed) > 0 {
			return exitError{exitConflict, fmt.Sprintf("%d task(s) could not be %s", len(res.Failed), verb)}
		}
		return nil
	}
	// By id, one call each, going on past failures and exiting with the
	// code of the first one.
	var first error
	var done []*apiclient.Task
	for _, id := range ids {
		cctx, cancel := withCallTimeout(ctx)
		var t *apiclient.Task
		switch action {
		case "cancel":
			t, err = client.CancelTask(cctx, id)
		case "retry":
			t, err = client.RetryTask(cctx, id)
		case "delete":
			err = client.DeleteTask(cctx, id)
			t = &apiclient.Task{ID: id, State: "deleted"}
		}
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "taskmill task %s %s: %v\n", action, id, err)
			if first == nil {
				first = err
			}
			continue
		}
		done = append(done, t)
		if !api.json {
			fmt.Fprintf(stdout, "%s %s\n", t.ID, t.State)
		}
	}
	if api.json {
		if err := printJSON(stdout, map[string]any{"tasks": nonNil(done)}); err != nil {
			return err
		}
	}
	if first != nil {
		return exitError{apiExitCode(first), fmt.Sprintf("%d of %d task(s) failed", len(ids)-len(done), len(ids))}
	}
	return nil
}
