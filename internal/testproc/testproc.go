// Package testproc runs the real taskmill binary in tests: it builds it
// once per test binary, starts processes with their own data directories,
// finds the URL a server listens on, and kills processes with SIGKILL for
// crash tests. Nothing here is mocked; the processes are the product.
package testproc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/taskmill (with -race when the test binary has it)
// into a temporary directory, once per test binary, and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "taskmill-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "taskmill")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/taskmill/taskmill/cmd/taskmill")
		cmd := exec.Command(goTool(), args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build taskmill: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// goTool finds the go command: the one on PATH, else the usual install.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Proc is one running taskmill process.
type Proc struct {
	t    testing.TB
	Cmd  *exec.Cmd
	Name string

	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr, interleaved
	url    string
	urlCh  chan string
	exited chan struct{}
	err    error
}

// Start runs the taskmill binary with args. The process is killed when
// the test ends if it is still running; its output is logged on failure.
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return StartEnv(t, name, append(os.Environ(), "TASKMILL_LOG_FORMAT=text"), args...)
}

// StartEnv is Start with exactly the environment env and nothing of the
// test's own, as a container starts a process with only what its image
// and its configuration set.
func StartEnv(t testing.TB, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Name: name, urlCh: make(chan string, 1), exited: make(chan struct{})}
	p.Cmd = exec.Command(Binary(t), args...)
	p.Cmd.Env = env
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Stderr = p.Cmd.Stdout
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// urlPattern finds the URL in the log line of a text (url=http://…) or
// JSON ("url":"http://…") logger.
var urlPattern = regexp.MustCompile(`"?url"?[=:]"?(http://[^\s"]+)`)

func (p *Proc) read(r interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.output.WriteString(line)
		p.output.WriteByte('\n')
		if p.url == "" {
			if m := urlPattern.FindStringSubmatch(line); m != nil && strings.Contains(line, "serving") {
				p.url = strings.Trim(m[1], `"`)
				p.urlCh <- p.url
			}
		}
		p.mu.Unlock()
	}
	p.err = p.Cmd.Wait()
	close(p.exited)
}

// URL waits until the process logs the URL it serves on and returns it.
func (p *Proc) URL() string {
	p.t.Helper()
	p.mu.Lock()
	if p.url != "" {
		defer p.mu.Unlock()
		return p.url
	}
	p.mu.Unlock()
	select {
	case u := <-p.urlCh:
		return u
	case <-p.exited:
		p.t.Fatalf("%s exited before serving: %v\n%s", p.Name, p.err, p.Output())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("%s did not start serving within 60s\n%s", p.Name, p.Output())
	}
	return ""
}

// Output returns everything the process has printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Kill sends SIGKILL to the process (and its group) and waits for it.
func (p *Proc) Kill() {
	if p.Cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits for the process to exit, at most until ctx ends, and returns
// its exit error (nil for exit code 0).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }
