// Command taskmill runs every role of the taskmill task queue: the API
// server with its dashboard (serve), worker nodes (worker), the client
// commands and the benchmark. Each subcommand lives in a file of its own
// with a testable run function.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitUsage is the exit code for bad arguments, as DESIGN.md promises.
const exitUsage = 2

// usageError marks an error caused by the command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one subcommand: it runs with its own arguments.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is filled in by each subcommand's file.
var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run runs the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		// A bare `taskmill` is a command line that says nothing: usage on
		// stderr and exit 2, as for any other usage error.
		printUsage(stderr)
		return exitUsage
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help":
		printUsage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "taskmill: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // the command printed its help; asking for it is no error
		}
		fmt.Fprintf(stderr, "taskmill %s: %v\n", args[0], err)
		if hint := errorHint(err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
		var usage usageError
		if errors.As(err, &usage) {
			return exitUsage
		}
		return exitCode(err)
	}
	return 0
}
