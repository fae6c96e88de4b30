package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

func init() {
	commands["queue"] = command{summary: "list queues with their statistics, pause and resume them: ls | pause | resume", run: runQueue}
}

const queueUsage = `Usage: taskmill queue ls [--json]
       taskmill queue pause|resume|delete NAME [--json]`

func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: ls, pause, resume or delete\n%s", queueUsage)
	}
	sub := args[0]
	switch sub {
	case "ls", "list", "pause", "resume", "delete":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, queueUsage)
		return nil
	default:
		return usagef("unknown subcommand %q\n%s", sub, queueUsage)
	}
	fs := newFlagSet("queue " + sub)
	api := apiFlagSet(fs)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return helpOrErr(err, fs, stderr, queueUsage)
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	cctx, cancel := withCallTimeout(ctx)
	defer cancel()
	if sub == "pause" || sub == "resume" || sub == "delete" {
		if len(pos) != 1 {
			return usagef("queue %s wants one queue name", sub)
		}
		if err := taskmill.ValidateName("queue", pos[0]); err != nil {
			return usagef("%v", err)
		}
		// Pausing a queue no task was ever sent to is allowed, as asynq
		// and Sidekiq allow it: a queue can be paused before its first
		// task. Say so, since a typo looks the same.
		_, qerr := client.Queue(cctx, pos[0])
		ahead := errors.Is(qerr, apiclient.ErrNotFound)
		switch sub {
		case "pause":
			err = client.PauseQueue(cctx, pos[0])
		case "resume":
			err = client.ResumeQueue(cctx, pos[0])
		case "delete":
			err = client.DeleteQueue(cctx, pos[0])
		}
		if err != nil {
			return err
		}
		if api.json && sub == "delete" {
			return printJSON(stdout, map[string]any{"name": pos[0], "deleted": true})
		}
		if api.json {
			return printJSON(stdout, apiclient.QueueActionReply{Name: pos[0], Paused: sub == "pause"})
		}
		switch {
		case ahead && sub == "pause":
			fmt.Fprintf(stdout, "queue %s paused ahead: it has no tasks yet; workers will not take its tasks until it is resumed\n", pos[0])
		case ahead:
			fmt.Fprintf(stdout, "queue %s resumed (it has no tasks yet)\n", pos[0])
		default:
			fmt.Fprintf(stdout, "queue %s %sd\n", pos[0], sub)
		}
		return nil
	}
	if len(pos) > 0 {
		return usagef("queue ls takes no arguments")
	}
	qs, err := client.Queues(cctx)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(stdout, apiclient.QueueList{Queues: qs})
	}
	tb := newTable(stdout, "QUEUE", "PAUSED", "PENDING", "SCHEDULED", "PROCESSING", "RETRYING", "COMPLETED", "FAILED", "CANCELED", "OLDEST WAIT", "PER MIN", "FAILURE", "UNSERVED")
	for _, q := range qs {
		c := func(s backend.State) string { return strconv.Itoa(q.Counts[s]) }
		paused := "no"
		if q.Paused {
			paused = "yes"
		}
		wait := "-"
		if q.LatencyMS > 0 {
			wait = short(time.Duration(q.LatencyMS) * time.Millisecond)
		}
		// UNSERVED: "queue" when no live worker takes from it, else the
		// types of its pending tasks no such worker runs.
		unserved := "-"
		switch {
		case !q.Served:
			unserved = "queue"
		case len(q.UnservedTypes) > 0:
			unserved = strings.Join(q.UnservedTypes, ",")
		}
		tb.row(q.Name, paused, c(backend.StatePending), c(backend.StateScheduled), c(backend.StateProcessing), c(backend.StateRetrying),
			c(backend.StateCompleted), c(backend.StateFailed), c(backend.StateCanceled), wait,
			strconv.FormatFloat(q.ThroughputPerMin, 'f', 1, 64), strconv.FormatFloat(q.FailureRate*100, 'f', 1, 64)+"%", unserved)
	}
	tb.flush()
	return nil
}
