package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill/apiclient"
)

const workerAdminUsage = `Usage: taskmill worker ls [--json]
       taskmill worker stop ID [--json]`

// workerAdmin runs `taskmill worker ls` and `taskmill worker stop ID`
// against the API server: it lists the live workers of every process
// (Go workers, in-process slots of servers, HTTP workers in any language)
// and asks one to drain and stop.
func workerAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := args[0]
	fs := newFlagSet("worker " + sub)
	api := apiFlagSet(fs)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return helpOrErr(err, fs, stderr, workerAdminUsage)
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	cctx, cancel := withCallTimeout(ctx)
	defer cancel()
	switch sub {
	case "stop":
		if len(pos) != 1 {
			return usagef("worker stop wants one worker id (taskmill worker ls lists them)")
		}
		if err := client.StopWorker(cctx, pos[0]); err != nil {
			return err
		}
		if api.json {
			return printJSON(stdout, apiclient.WorkerStopReply{ID: pos[0], Stopping: true})
		}
		fmt.Fprintf(stdout, "worker %s asked to stop; it drains and leaves at its next heartbeat\n", pos[0])
		return nil
	case "ls", "list":
		if len(pos) > 0 {
			return usagef("worker ls takes no arguments")
		}
		ws, err := client.Workers(cctx)
		if err != nil {
			return err
		}
		if api.json {
			return printJSON(stdout, apiclient.WorkerList{Workers: ws})
		}
		tb := newTable(stdout, "ID", "HOST", "PID", "QUEUES", "SLOTS", "RUNNING", "STARTED", "HEARTBEAT", "STATE")
		for _, w := range ws {
			state := "running"
			if w.Stopping {
				state = "stopping"
			}
			tb.row(w.ID, orDash(w.Host), strconv.Itoa(w.PID), orDash(strings.Join(w.Queues, ",")), strconv.Itoa(w.Concurrency),
				strconv.Itoa(len(w.Running)), ago(w.StartedAt), ago(w.LastHeartbeat), state)
		}
		tb.flush()
		return nil
	}
	return usagef("unknown subcommand %q\n%s", sub, workerAdminUsage)
}
