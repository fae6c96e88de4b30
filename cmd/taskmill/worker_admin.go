package main

import (
	"context"
	"io"
)

// workerAdmin runs `taskmill worker ls` and `taskmill worker stop ID`
// against the API server. The CLI issue (#4) gives it its real body.
func workerAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("taskmill worker %s: the worker admin commands are not built yet", args[0])
}
