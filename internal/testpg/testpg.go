// Package testpg starts a private PostgreSQL server for tests: initdb into
// a fresh temporary directory, the server on a free loopback port with its
// unix socket in that directory, killed when the test (or test binary)
// ends. Tests never touch a PostgreSQL that happens to run on the machine
// (5432): CI machines have none, and a shared one would make tests depend
// on each other.
//
// fsync stays on — the crash tests check durability — but shared_buffers
// is small so that many servers fit on a small machine.
//
// When the server binaries are not installed, Require skips the test with
// a loud message — unless the CI environment variable is set, in which
// case it fails: on CI a missing PostgreSQL is a broken setup.
package testpg

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configures Start.
type Options struct {
	// SharedBuffers is postgres' shared_buffers (default "32MB").
	SharedBuffers string
	// MaxConnections is max_connections (default 200: benchmarks open many).
	MaxConnections int
	// Settings are extra "name=value" server settings.
	Settings []string
}

// Server is one PostgreSQL server owned by a test (or by a test binary,
// see Shared).
type Server struct {
	binDir string
	dir    string // owns data/, the socket and the log
	port   int
	opts   Options
	cred   *syscall.Credential // set when running as root: the server runs as postgres

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd exits
	dbs    int
}

// BinDir finds the directory of initdb, pg_ctl and postgres: on PATH
// (where the real binary may be a symlink into the version's directory),
// or Debian's /usr/lib/postgresql/VERSION/bin, newest version first,
// which Debian does not put on PATH.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb not found on PATH nor under /usr/lib/postgresql/*/bin")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Require returns the server binaries' directory, skipping (or, with CI
// set, failing) the test when they are missing.
func Require(t testing.TB) string {
	t.Helper()
	dir, err := BinDir()
	if err == nil {
		return dir
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is not installed but CI is set: the PostgreSQL tests must run here (apt-get install postgresql): %v", err)
	}
	fmt.Fprintln(os.Stderr, "!! SKIPPING PostgreSQL tests: initdb is not installed (apt-get install postgresql); set CI=1 to make this fail")
	t.Skip("PostgreSQL not installed (apt-get install postgresql)")
	return ""
}

// Start initialises and starts a fresh server and stops it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	binDir := Require(t)
	s, err := start(binDir, opts)
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(s.Destroy)
	return s
}

func start(binDir string, opts Options) (*Server, error) {
	if opts.SharedBuffers == "" {
		opts.SharedBuffers = "32MB"
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 200
	}
	// Not t.TempDir: its parents are private to this user, and as root
	// the server runs as another user that must reach its directory.
	dir, err := os.MkdirTemp("", "testpg-")
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir, dir: dir, opts: opts}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	initdb := s.command(filepath.Join(binDir, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := s.startServer(); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// command builds a command that runs as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// startServer runs the postgres binary itself rather than pg_ctl start,
// so that the server is this process's child and dies with it
// (Pdeathsig): a test binary killed by a timeout leaves no server behind.
func (s *Server) startServer() error {
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "shared_buffers=" + s.opts.SharedBuffers,
		"-c", "max_connections=" + strconv.Itoa(s.opts.MaxConnections),
		"-c", "logging_collector=off", "-c", "log_min_messages=warning"}
	for _, kv := range s.opts.Settings {
		args = append(args, "-c", kv)
	}
	cmd := s.command(filepath.Join(s.binDir, "postgres"), args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start; log:\n%s", s.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("postgres on port %d did not accept connections within 60s; log:\n%s", s.port, s.Log())
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// URL returns a postgres:// URL for the database "postgres".
func (s *Server) URL() string { return s.url("postgres") }

// NewDatabase creates an empty database and returns its URL; t's cleanup
// drops it (when the server still runs).
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := fmt.Sprintf("test_%d", s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, s.URL()); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return s.url(name)
}

// StopImmediate stops the server as `pg_ctl stop -m immediate` does: no
// checkpoint, no clean shutdown; the next start replays the WAL as after
// a crash. Everything committed (fsync on) must survive it.
func (s *Server) StopImmediate(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pgctl := s.command(filepath.Join(s.binDir, "pg_ctl"), "stop", "-D", s.dataDir(), "-m", "immediate", "-w", "-t", "60")
	if out, err := pgctl.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
}

// Restart starts a server stopped by StopImmediate again, on the same
// port and data directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.startServer(); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
}

// Destroy kills the server and removes its directory. Safe to call twice.
func (s *Server) Destroy() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		// SIGQUIT is postgres' immediate shutdown: it takes its children
		// down with it, which SIGKILL of the postmaster would not.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	if s.dir != "" && !strings.Contains(s.dir, "..") {
		os.RemoveAll(s.dir)
	}
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns a fresh, empty database on a server shared by the whole
// test binary (initdb costs seconds; a database costs milliseconds). A
// package that uses it calls Main from its TestMain so that the server
// goes when the tests end.
func Shared(t testing.TB) string {
	t.Helper()
	binDir := Require(t)
	sharedOnce.Do(func() { shared, sharedErr = start(binDir, Options{}) })
	if sharedErr != nil {
		t.Fatalf("start the shared PostgreSQL: %v", sharedErr)
	}
	return shared.NewDatabase(t)
}

// Main runs the tests and then stops the shared server, if one started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Destroy()
	}
	return code
}
