package testredis

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/taskmill/taskmill/internal/testcert"
)

// StartTLS starts a redis-server that accepts only TLS connections (on
// the returned Server's port) and requires password. It makes a CA and a
// certificate for 127.0.0.1 for it; CAFile is the PEM a client must trust.
func StartTLS(t testing.TB, password string) (s *Server, caFile string) {
	t.Helper()
	bin := Require(t)
	s = &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	caFile, certFile, keyFile := testcert.Write(t, s.dir)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(pem)
	s.tlsConf = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	s.rawArgs = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "no", "--requirepass", password, "--dir", s.dir, "--save", "",
		"--appendonly", "no", "--logfile", filepath.Join(s.dir, "redis.log")}
	if err := s.start(); err != nil {
		t.Fatalf("start redis-server with TLS: %v", err)
	}
	t.Cleanup(func() { s.Kill() })
	return s, caFile
}
