package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/taskmill/taskmill/apiclient"
)

// apiFlags are the flags of every command that talks to a server.
type apiFlags struct {
	server string
	token  string
	json   bool
}

func apiFlagSet(fs *flag.FlagSet) *apiFlags {
	a := &apiFlags{}
	fs.StringVar(&a.server, "server", envString("TASKMILL_SERVER", apiclient.DefaultServer), "URL of the taskmill server (env TASKMILL_SERVER)")
	fs.StringVar(&a.token, "token", envString("TASKMILL_TOKEN", ""), "API key to send as a bearer token (env TASKMILL_TOKEN)")
	fs.BoolVar(&a.json, "json", false, "print JSON for scripts instead of tables")
	return a
}

func (a *apiFlags) client() (*apiclient.Client, error) {
	c, err := apiclient.New(a.server, a.token, nil)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// parseArgs parses flags that may come before, between or after the
// positional arguments (taskmill submit echo '{}' --wait), and returns the
// positional ones. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// exitError ends a command with a given exit code and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// The exit codes scripts can rely on (docs/cli.md).
const (
	exitOK          = 0
	exitFailure     = 1 // the operation failed: a task failed under --wait, a server error, no server
	exitNotFound    = 3 // no such task, queue or worker
	exitAuth        = 4 // no API key, a wrong one, or one whose role may not do this
	exitConflict    = 5 // the task's state does not allow it (already final, not final, duplicate)
	exitWaitTimeout = 6 // --wait gave up before the task finished
)

// apiExitCode maps an API error to its exit code, by the status classes
// of apiclient.Error.Is.
func apiExitCode(err error) int {
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, apiclient.ErrBadRequest):
		return exitUsage
	case errors.Is(err, apiclient.ErrNotFound):
		return exitNotFound
	case errors.Is(err, apiclient.ErrUnauthorized):
		return exitAuth
	case errors.Is(err, apiclient.ErrConflict):
		return exitConflict
	}
	return exitFailure
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

// row writes one line. Each cell is printed as itself only when it is
// plain text; a cell with control characters (an escape sequence in a
// worker's host, a newline in an error) or invalid UTF-8 is printed
// quoted and escaped, so that text from the server can neither rewrite
// the terminal nor break the columns.
func (t *table) row(cols ...string) {
	safe := make([]string, len(cols))
	for i, c := range cols {
		safe[i] = terminalSafe(c)
	}
	fmt.Fprintln(t.tw, strings.Join(safe, "\t"))
}

// terminalSafe returns s, or s quoted with Go's escapes when it holds
// anything a terminal would act on.
func terminalSafe(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return strconv.Quote(s)
		}
	}
	return s
}

func (t *table) flush() { t.tw.Flush() }

// ago says how long ago t was, briefly ("3s ago"); "-" for never.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + short(-d)
	}
	return short(d) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstLine shortens a multi-line message (a panic's stack) for a table.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 80 {
		s = s[:79] + "…"
	}
	return s
}
