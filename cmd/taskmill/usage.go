package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/taskmill/taskmill/apiclient"
)

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "taskmill — a distributed task queue")
	fmt.Fprintln(w, "\nUsage: taskmill <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'taskmill <command> -h' for a command's flags, 'taskmill --version' for this build.")
}

// exitCode maps a command's error to an exit code (docs/cli.md): usage
// errors are handled by Run; API errors map by status (400 → 2, 404 → 3,
// 401/403 → 4, 409 → 5); anything else is 1.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return apiExitCode(err)
}

// parseFlags parses args with fs, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

// errorHint says what to do about an error whose message alone does not:
// the server's "send Authorization: Bearer" means nothing to a CLI user.
func errorHint(err error) string {
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		if strings.Contains(ae.Message, "needs an API key") {
			return "The server wants an API key: pass --token TOKEN or set TASKMILL_TOKEN (a key serve was given with --api-key NAME:ROLE:TOKEN)."
		}
		return "The server refused the API key given by --token or TASKMILL_TOKEN: check it against serve's --api-key."
	}
	return ""
}
