// Package testredis starts a private redis-server for a test: on a free
// loopback port, in the test's temp dir, killed when the test ends. Tests
// never touch a Redis that happens to run on the machine (6379): CI
// machines have none, and a shared one would make tests depend on each
// other.
//
// When redis-server is not installed, Start skips the test with a loud
// message — unless the CI environment variable is set, in which case it
// fails: on CI a missing Redis is a broken setup, not a reason to pass.
package testredis

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configures Start.
type Options struct {
	// AOF turns on the append-only file with appendfsync always, so every
	// write a client saw acknowledged survives a kill -9 of the server.
	AOF bool
	// Args are extra redis-server arguments, e.g. "--maxmemory", "1gb".
	Args []string
}

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts Options
	// rawArgs, when set, replaces the arguments args builds (Sentinel, TLS).
	rawArgs []string
	tlsConf *tls.Config // set when the server speaks only TLS

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Require returns the path of redis-server, skipping (or, with CI set,
// failing) the test when it is missing.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("redis-server is not installed but CI is set: the Redis tests must run here (apt-get install redis-server)")
	}
	fmt.Fprintln(os.Stderr, "!! SKIPPING Redis tests: redis-server is not installed (apt-get install redis-server); set CI=1 to make this fail")
	t.Skip("redis-server not installed")
	return ""
}

// Start starts a fresh, empty redis-server and registers its shutdown
// with t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Require(t)
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), opts: opts}
	if err := s.start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { s.Kill() })
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns a redis:// URL for the server's database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// PID returns the process id of the running redis-server (0 if none).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) args() []string {
	if s.rawArgs != nil {
		return s.rawArgs
	}
	a := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}
	if s.opts.AOF {
		a = append(a, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		a = append(a, "--appendonly", "no")
	}
	return append(a, s.opts.Args...)
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	go cmd.Wait() //nolint:errcheck // reaped; the exit status does not matter
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := ping(s.Addr(), s.tlsConf); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr(), log)
}

// ping sends PING over a raw (or TLS) connection; loading an AOF
// answers -LOADING, which is not ready yet, while -NOAUTH (a password is
// required) means the server is up.
func ping(addr string, tlsConf *tls.Config) error {
	var c net.Conn
	var err error
	if tlsConf != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, tlsConf)
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Kill stops the server with SIGKILL, as a crash would. Safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	// Wait until the port is free so that Restart can bind it again.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr(), s.tlsConf) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart kills the server and starts it again on the same port and
// directory: with AOF on, it reloads every acknowledged write.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
