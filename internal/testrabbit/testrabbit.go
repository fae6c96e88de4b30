// Package testrabbit starts a private RabbitMQ node for a test: its own
// node name, free loopback ports, and every file (database, logs, config,
// Erlang cookie) in the test's temp dir; killed when the test ends. Tests
// never touch a broker already running on the machine (5672): CI machines
// have none, and a shared one would make tests depend on each other.
//
// When rabbitmq-server is not installed, Start skips the test with a loud
// message, unless the CI environment variable is set: then it fails.
package testrabbit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/internal/testcert"
)

// Options configures Start.
type Options struct {
	// TLS adds a TLS listener (TLSURL) with a certificate for 127.0.0.1
	// signed by a CA made for the test, besides the plain one.
	TLS bool
}

// Server is one private rabbitmq-server node owned by a test.
type Server struct {
	t        testing.TB
	bin, ctl string
	dir      string
	node     string
	port     int
	distPort int
	tlsPort  int
	caFile   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Debian installs the real scripts here; /usr/sbin holds wrappers that
// switch to the rabbitmq user when run as root, which would then use
// that user's Erlang cookie and home instead of the test's.
const debianBin = "/usr/lib/rabbitmq/bin"

// Require returns the paths of rabbitmq-server and rabbitmqctl, skipping
// (or, with CI set, failing) the test when they are missing.
func Require(t testing.TB) (server, ctl string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianBin, "rabbitmq-server")); err == nil {
		return filepath.Join(debianBin, "rabbitmq-server"), filepath.Join(debianBin, "rabbitmqctl")
	}
	server, err := exec.LookPath("rabbitmq-server")
	if err == nil {
		if ctl, err = exec.LookPath("rabbitmqctl"); err == nil {
			return server, ctl
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("rabbitmq-server is not installed but CI is set: the AMQP tests must run here (apt-get install rabbitmq-server)")
	}
	fmt.Fprintln(os.Stderr, "!! SKIPPING AMQP tests: rabbitmq-server is not installed (apt-get install rabbitmq-server); set CI=1 to make this fail")
	t.Skip("rabbitmq-server not installed")
	return "", ""
}

// Start starts a fresh node and waits until it accepts AMQP connections.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, ctl := Require(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &Server{t: t, bin: bin, ctl: ctl, dir: t.TempDir(), port: freePort(t), distPort: freePort(t),
		node: "taskmilltest" + hex.EncodeToString(suffix) + "@localhost"}
	conf := "loopback_users = none\nlog.console = false\nlog.file.level = warning\n"
	if opts.TLS {
		var certFile, keyFile string
		s.tlsPort = freePort(t)
		s.caFile, certFile, keyFile = testcert.Write(t, s.dir)
		conf += fmt.Sprintf("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s\nssl_options.certfile = %s\n"+
			"ssl_options.keyfile = %s\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n",
			s.tlsPort, s.caFile, certFile, keyFile)
	}
	for name, content := range map[string]string{
		"rabbitmq.conf":     conf,
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "",
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.start(); err != nil {
		t.Fatalf("start rabbitmq-server: %v", err)
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("rabbitmq node %s log:\n%s", s.node, s.logTail())
		}
	})
	return s
}

// logTail is the end of the node's log file, for a failed test.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log", s.node+".log"))
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	return string(b)
}

// URL is the node's amqp:// URL, with the default guest account.
func (s *Server) URL() string { return "amqp://guest:guest@" + s.Addr() + "/" }

// TLSURL is the amqps:// URL of the TLS listener (Options.TLS), trusting
// the test's CA; "" without TLS.
func (s *Server) TLSURL() string {
	if s.tlsPort == 0 {
		return ""
	}
	return fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/?cacertfile=%s", s.tlsPort, url.QueryEscape(s.caFile))
}

// Addr is the AMQP listener's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Node is the Erlang node name, for rabbitmqctl -n.
func (s *Server) Node() string { return s.node }

// env is the process environment of the node and of rabbitmqctl: HOME
// in the temp dir gives both a private Erlang cookie, and the env file
// in the temp dir keeps /etc/rabbitmq/rabbitmq-env.conf out.
func (s *Server) env() []string {
	return append(os.Environ(),
		"HOME="+s.dir,
		"RABBITMQ_NODENAME="+s.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(s.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(s.distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(s.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(s.dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(s.dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(s.dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(s.dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(s.dir, "rabbitmq.pid"),
	)
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin)
	cmd.Env = s.env()
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: the script starts the Erlang VM as a child,
	// and Kill must take the whole tree down at once, as a crash would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := amqp.DialConfig(s.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("rabbitmq-server exited during startup; output:\n%s", s.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("rabbitmq node %s did not accept AMQP on %s within 90s; output:\n%s", s.node, s.Addr(), s.output())
}

func (s *Server) output() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.out"))
	return string(b)
}

// Kill stops the node with SIGKILL (the whole process group), as a crash
// would, and waits until it is gone. Safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	// The VM is a child of the script; wait until its port is free too.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart kills the node and starts it again on the same ports and data
// directory: durable queues and the messages they confirmed come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart rabbitmq-server: %v", err)
	}
}

// SyncDefinitions makes the node write what it has declared (queues,
// exchanges, bindings) to disk before a test kills it. RabbitMQ 3.10
// keeps them in Mnesia, whose transaction log is not synced when a
// declare returns: a durable queue declared seconds before a SIGKILL can
// be gone after the restart, with every message it had confirmed (seen
// here: TestRestartKeepsConfirmedMessages failed so once in dozens of
// runs). A crash test that means to crash a broker whose definitions are
// settled, as a real one's would be, calls this first.
func (s *Server) SyncDefinitions() {
	s.t.Helper()
	out, err := s.Ctl("eval", "mnesia:sync_log().")
	if err != nil || strings.TrimSpace(out) != "ok" {
		s.t.Fatalf("sync the node's definitions (rabbitmqctl eval 'mnesia:sync_log().'): %v: %s", err, out)
	}
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (s *Server) Ctl(args ...string) (string, error) {
	cmd := exec.Command(s.ctl, append([]string{"-n", s.node}, args...)...)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
