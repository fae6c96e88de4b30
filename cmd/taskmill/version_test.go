package main

import (
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/taskmill/taskmill/internal/testproc"
)

var versionLine = regexp.MustCompile(`^taskmill (\S+) \(commit (\S+), (go\S+)\)\n$`)

// TestVersionOfABuiltBinary runs `version` and `--version` in a binary
// built by plain `go build` (no -ldflags), as `go install` builds it: the
// build information alone must give a version line.
func TestVersionOfABuiltBinary(t *testing.T) {
	bin := testproc.Binary(t)
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("taskmill %s: %v\n%s", arg, err, out)
		}
		m := versionLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("taskmill %s printed %q, want taskmill VERSION (commit C, goX)", arg, out)
		}
		if m[3] != runtime.Version() {
			t.Errorf("taskmill %s: Go version %s, want %s (the toolchain that built it)", arg, m[3], runtime.Version())
		}
	}
}

func TestVersionFromLinkerFlags(t *testing.T) {
	version, commit = "v1.2.3", "abc123"
	t.Cleanup(func() { version, commit = "", "" })
	r := cli(t, "--version").want(t, 0, "--version")
	if r.stdout != "taskmill v1.2.3 (commit abc123, "+runtime.Version()+")\n" {
		t.Fatalf("--version printed %q", r.stdout)
	}
	cli(t, "version", "extra").want(t, 2, "version", "extra")
}

func TestBareCommandPrintsUsageAndExits2(t *testing.T) {
	r := cli(t).want(t, 2)
	if r.stdout != "" || !strings.Contains(r.stderr, "Usage: taskmill <command>") || !strings.Contains(r.stderr, "version") {
		t.Fatalf("bare taskmill: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = cli(t, "--help").want(t, 0, "--help")
	if !strings.Contains(r.stdout, "Usage: taskmill <command>") {
		t.Fatalf("--help: stdout %q", r.stdout)
	}
}

// TestHelpExitsZeroWithoutComplaint: -h on every command prints help and
// exits 0, and nothing prints flag's "help requested".
func TestHelpExitsZeroWithoutComplaint(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "-h"}, {"worker", "-h"}, {"worker", "ls", "-h"}, {"submit", "-h"}, {"task", "ls", "-h"}, {"task", "get", "--help"},
		{"queue", "pause", "-h"}, {"bench", "-h"}, {"version", "-h"}, {"files", "ls", "-h"}, {"files", "put", "-h"}, {"files", "--help"},
	} {
		r := cli(t, args...).want(t, 0, args...)
		all := r.stdout + r.stderr
		if strings.Contains(all, "help requested") {
			t.Errorf("taskmill %s printed %q", strings.Join(args, " "), all)
		}
		if !strings.Contains(all, "Usage") {
			t.Errorf("taskmill %s printed no usage: %q", strings.Join(args, " "), all)
		}
	}
}

// TestHelpGroupsEveryFlag: serve and worker -h sort every flag under a
// topic with an example; none is left over under "Other".
func TestHelpGroupsEveryFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "worker"} {
		r := cli(t, cmd, "-h").want(t, 0, cmd, "-h")
		if strings.Contains(r.stdout, "\nOther:") {
			t.Errorf("%s -h has flags in no group:\n%s", cmd, r.stdout[strings.Index(r.stdout, "\nOther:"):])
		}
		for _, title := range []string{"Storage:", "Workers:", "Telemetry:", "Limits of the built-in task types:", "Email (send_email):"} {
			if !strings.Contains(r.stdout, "\n"+title+"\n") {
				t.Errorf("%s -h lacks the group %q", cmd, title)
			}
		}
		if strings.Count(r.stdout, "  e.g. ") < 6 {
			t.Errorf("%s -h gives %d examples, want one per group", cmd, strings.Count(r.stdout, "  e.g. "))
		}
	}
	r := cli(t, "serve", "-h")
	for _, title := range []string{"Network:", "Auth:", "Schedules:"} {
		if !strings.Contains(r.stdout, "\n"+title+"\n") {
			t.Errorf("serve -h lacks the group %q", title)
		}
	}
	// Each flag is printed once, with two dashes as the docs spell it.
	if strings.Count(r.stdout, "\n  --data string\n") != 1 || strings.Contains(r.stdout, "\n  -data") {
		t.Errorf("serve -h prints --data wrongly:\n%s", r.stdout)
	}
}

func TestPseudoVersionRev(t *testing.T) {
	for v, want := range map[string]string{
		"v0.0.0-20261206165213-69a17228fa7e":              "69a17228fa7e",
		"v1.2.4-0.20261206165213-69a17228fa7e":            "69a17228fa7e",
		"v1.2.3-pre.0.20261206165213-69a17228fa7e":        "69a17228fa7e",
		"v2.0.0-20261206165213-69a17228fa7e+incompatible": "69a17228fa7e",
		"v1.2.3": "",
		"":       "",
	} {
		if got := pseudoVersionRev(v); got != want {
			t.Errorf("pseudoVersionRev(%q) = %q, want %q", v, got, want)
		}
	}
}
