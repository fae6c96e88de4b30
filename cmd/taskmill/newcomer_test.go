package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/internal/testproc"
)

// The newcomer test: every command of README.md's quick start and of
// docs/task-types.md, in order, against a real `taskmill serve` on a free
// port, as a person would type them on a fresh clone. The documents are
// written for it:
//
//   - every ```sh block runs, unless the line before its fence is an HTML
//     comment starting "<!-- not run by the newcomer test"; in README.md
//     only the blocks before "## Many machines" (the quick start) run;
//   - a line "# → TEXT" after a command is what it prints: TEXT's pieces
//     between "…" must appear in the output, in order. A read-only command
//     (a GET) is tried again until they do, for 30 s: a person reads the
//     task a moment later;
//   - "# → exit N": the command exits N (otherwise it must exit 0);
//   - "… then completed: RESULT" after a submit: the task ends completed,
//     its result matching RESULT's pieces; "then failed: ERROR": it ends
//     failed with that error. A submit without either must complete.
//
// localhost:8080 in the commands becomes the test server's address, and
// `taskmill` the binary built from this checkout.

type docCommand struct {
	doc, line string
	cmd       string
	expect    string // pieces the output must hold
	exitCode  int
	final     string // "completed" or "failed" for a submit; "" for none
	finalText string
}

var (
	expectLine  = regexp.MustCompile(`^#\s*→\s*(.*)$`)
	exitExpect  = regexp.MustCompile(`^exit (\d+)$`)
	finalExpect = regexp.MustCompile(`^(.*?)\s*then (completed|failed)(?::\s*(.*))?$`)
)

// docCommands extracts the commands of a Markdown document.
func docCommands(t *testing.T, path, stopAt string) []docCommand {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []docCommand
	inBlock, skip := false, false
	prev, pending := "", ""
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if !inBlock && stopAt != "" && strings.HasPrefix(line, stopAt) {
			break
		}
		if strings.HasPrefix(trimmed, "```") {
			if !inBlock {
				inBlock = trimmed == "```sh"
				skip = strings.HasPrefix(prev, "<!-- not run by the newcomer test")
			} else {
				inBlock = false
			}
			prev = trimmed
			continue
		}
		if trimmed != "" {
			prev = trimmed
		}
		if !inBlock || skip || trimmed == "" {
			continue
		}
		if m := expectLine.FindStringSubmatch(trimmed); m != nil {
			if len(cmds) == 0 {
				t.Fatalf("%s:%d: an expectation before any command", path, n)
			}
			c := &cmds[len(cmds)-1]
			want := strings.TrimSpace(m[1])
			if em := exitExpect.FindStringSubmatch(want); em != nil {
				c.exitCode, _ = strconv.Atoi(em[1])
				continue
			}
			if fm := finalExpect.FindStringSubmatch(want); fm != nil {
				want, c.final, c.finalText = fm[1], fm[2], fm[3]
			}
			c.expect = want
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cmds = append(cmds, docCommand{doc: filepath.Base(path), line: strconv.Itoa(n), cmd: pending + line})
		pending = ""
	}
	return cmds
}

// pieces splits an expectation at its ellipses.
func pieces(want string) []string {
	var out []string
	for _, p := range strings.Split(want, "…") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// holdsInOrder reports whether s holds every piece, in order.
func holdsInOrder(s string, ps []string) bool {
	for _, p := range ps {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// globOf turns pieces into a bash pattern matching a text that holds them.
func globOf(ps []string) string {
	var b strings.Builder
	b.WriteString("*")
	for _, p := range ps {
		for _, r := range p {
			if strings.ContainsRune(`*?[]\`, r) {
				b.WriteRune('\\')
			}
			b.WriteRune(r)
		}
		b.WriteString("*")
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// readOnly tells a command that changes nothing, so it may be run again.
func readOnly(cmd string) bool {
	for _, w := range []string{"-X", " -d ", "--data", "--json", "submit", " put ", " rm ", "pause", "resume", "retry", "cancel", "delete", "$(", ">"} {
		if strings.Contains(cmd, w) {
			return false
		}
	}
	return true
}

func TestNewcomerFollowsTheDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (CI is set): apt-get install -y %s", tool, tool)
			}
			t.Skipf("SKIPPED: %s is not installed (apt-get install -y %s); the docs were not checked", tool, tool)
		}
	}
	cmds := append(docCommands(t, "../../README.md", "## Many machines"), docCommands(t, "../../docs/task-types.md", "")...)
	if len(cmds) < 25 {
		t.Fatalf("only %d commands found in the docs", len(cmds))
	}

	bin := testproc.Binary(t)
	data := t.TempDir()
	srv := testproc.Start(t, "serve", "serve", "--addr", "127.0.0.1:0", "--data", data, "--workers", "4")
	url := srv.URL()
	hostPort := strings.TrimPrefix(url, "http://")

	// A fresh clone: the commands run in a folder holding what the clone
	// holds and they name (docs/samples).
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "docs", "samples"), os.DirFS("../../docs/samples")); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()

	var script strings.Builder
	script.WriteString(`__tm_run() {
  local n=$1 retry=$2 glob=$3 cmd=$4 rc i
  for ((i = 0; i < 300; i++)); do
    eval "$cmd" >"$TM_OUT/$n" 2>&1 </dev/null; rc=$?
    if [[ $retry != 1 ]] || [[ $(<"$TM_OUT/$n") == $glob ]]; then break; fi
    sleep 0.1
  done
  echo "$rc" >"$TM_OUT/$n.rc"
}
`)
	for i, c := range cmds {
		cmd := strings.NewReplacer("http://localhost:8080", url, "http://127.0.0.1:8080", url, "localhost:8080", hostPort, "127.0.0.1:8080", hostPort).Replace(c.cmd)
		cmds[i].cmd = cmd
		retry := "0"
		if c.expect != "" && readOnly(cmd) {
			retry = "1"
		}
		fmt.Fprintf(&script, "__tm_run %d %s %s %s\n", i, retry, shellQuote(globOf(pieces(c.expect))), shellQuote(cmd))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = work
	sh.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TASKMILL_SERVER="+url, "TM_OUT="+outDir, "TASKMILL_TOKEN=")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the script did not run: %v\n%s", err, out)
	}

	client, err := apiclient.New(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		where := fmt.Sprintf("%s:%s `%s`", c.doc, c.line, c.cmd)
		rcRaw, err := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)+".rc"))
		if err != nil {
			t.Fatalf("%s: did not run: %v", where, err)
		}
		out, _ := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)))
		if rc, _ := strconv.Atoi(strings.TrimSpace(string(rcRaw))); rc != c.exitCode {
			t.Errorf("%s exited %d, the doc says %d\n%s", where, rc, c.exitCode, out)
			continue
		}
		if !holdsInOrder(string(out), pieces(c.expect)) {
			t.Errorf("%s printed\n%s\nthe doc says it shows %q", where, out, c.expect)
			continue
		}
		checkSubmitted(ctx, t, client, where, c, out)
	}
}

// checkSubmitted waits for a task a command submitted to finish as the
// doc says ("then completed"/"then failed", completed when it says
// nothing).
func checkSubmitted(ctx context.Context, t *testing.T, client *apiclient.Client, where string, c docCommand, out []byte) {
	t.Helper()
	if !strings.Contains(c.cmd, "/api/tasks") || !strings.Contains(c.cmd, "-X POST") {
		if c.final != "" {
			t.Errorf("%s: \"then %s\" follows a command that submits no task", where, c.final)
		}
		return
	}
	var submitted struct {
		ID    string
		Error *apiclient.Error
	}
	if err := json.Unmarshal(out, &submitted); err == nil && submitted.Error != nil && c.final == "" {
		return // refused, as the doc's "# →" line says (checked above): no task
	}
	if submitted.ID == "" {
		t.Errorf("%s: the answer is not a submitted task: %s", where, out)
		return
	}
	want := c.final
	if want == "" {
		want = "completed"
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	task, err := client.WaitTask(wctx, submitted.ID, 50*time.Millisecond, nil)
	if err != nil {
		t.Errorf("%s: task %s did not finish: %v", where, submitted.ID, err)
		return
	}
	got := ""
	if task.State == "completed" {
		got = string(task.Result)
	} else {
		got = task.LastError
	}
	if string(task.State) != want || !holdsInOrder(got, pieces(c.finalText)) {
		t.Errorf("%s: task %s ended %s with %s; the doc says %s: %s", where, task.ID, task.State, got, want, c.finalText)
	}
}
