package testredis

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors master under the name "mymaster", with short timeouts so that
// a failover takes a few seconds. The returned Server's Addr is the
// Sentinel's.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	bin := Require(t)
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	conf := filepath.Join(s.dir, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor mymaster 127.0.0.1 %d 1
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 5000
sentinel parallel-syncs mymaster 1
`, s.port, s.dir, filepath.Join(s.dir, "redis.log"), master.port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s.rawArgs = []string{conf, "--sentinel"}
	if err := s.start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { s.Kill() })
	return s
}

// SentinelURL returns a redis-sentinel:// URL for the master a Sentinel
// started by StartSentinel watches.
func (s *Server) SentinelURL() string {
	return "redis-sentinel://" + s.Addr() + "/0?master=mymaster"
}
