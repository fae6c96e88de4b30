package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackendURLErrorsHideThePassword: a --backend URL that does not
// parse is refused with exit code 2, and the message says what is wrong
// without the password (net/url's errors quote the whole URL).
func TestBackendURLErrorsHideThePassword(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--backend", "redis://:sup3r%zzsecret@h:6379/0"},
		{"worker", "--redis-wait-replicas", "1", "--backend", "redis://:sup3r%zzsecret@h:6379/0"},
		{"worker", "--backend", "redis://user:sup3rsecret@h:port/0"},
		{"worker", "--backend", "redis-sentinel://:sup3r%zzsecret@s1:26379,s2/0?master=m"},
		{"serve", "--addr", "127.0.0.1:0", "--backend", "rediss://:sup3r%zzsecret@h:6380/0"},
		{"bench", "--backend", "redis://:sup3r%zzsecret@h:6379/0"},
		{"worker", "--backend", "file://:sup3r%zzsecret@h/data"},
		{"worker", "--backend", "postgres://u:sup3r%zzsecret@h:5432/app"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			args = append(args, "--data", t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			code := Run(ctx, args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; output:\n%s", code, exitUsage, out)
			}
			if strings.Contains(out, "sup3r") || strings.Contains(out, "secret") {
				t.Fatalf("the password appears in the output:\n%s", out)
			}
			if !strings.Contains(out, "--backend") || !strings.Contains(out, "invalid") {
				t.Fatalf("the output does not say what is wrong:\n%s", out)
			}
		})
	}
}

// TestParseBackend: the rules of --backend, which the deploy test
// applies too. The sentinel and cluster forms' host lists, which net/url
// refuses, are taken; a URL without a scheme is not.
func TestParseBackend(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		url, kind, dir string
	}{
		{"", "embedded", data},
		{"embedded", "embedded", data},
		{"embedded://", "embedded", data},
		{"file:///srv/tm", "embedded", "/srv/tm"},
		{"file://data", "embedded", "data"},
		{"redis://127.0.0.1:6379/0", "redis", ""},
		{"redis-sentinel://:pw@s1:26379,s2/0?master=m", "redis", ""},
		{"rediss-cluster://n1:7000,n2:7001", "redis", ""},
		{"postgres://app:pw@db:5432/app?schema=tm_a&sslmode=disable", "postgres", ""},
		{"postgresql://db/app", "postgres", ""},
	} {
		target, err := parseBackend(tc.url, data, nil)
		if err != nil {
			t.Fatalf("parseBackend(%q): %v", tc.url, err)
		}
		if target.kind != tc.kind || target.dir != tc.dir || (target.rdb != nil) != (tc.kind == "redis") {
			t.Fatalf("parseBackend(%q) = %+v, want kind %s, dir %q", tc.url, target, tc.kind, tc.dir)
		}
		target.close()
	}
	for _, bad := range []string{"127.0.0.1:6379", "/srv/tm", "memcached://h", "redis://h:6379/x", "redis-sentinel://s1:26379",
		"postgres://db/app?schema=Bad-Name", "postgres://db/app?poll_interval=soon", "postgres://db/app?flushers=0"} {
		if target, err := parseBackend(bad, data, nil); err == nil {
			target.close()
			t.Fatalf("parseBackend(%q) took it", bad)
		}
	}
}

// TestBenchOpensTheBackendNamed: bench reads --backend as every command
// does: file://data is the store in ./data, kept afterwards, not a
// temporary directory.
func TestBenchOpensTheBackendNamed(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stdout, stderr strings.Builder
	code := Run(context.Background(), []string{"bench", "--backend", "file://data", "--mode", "enqueue", "--tasks", "10", "--concurrency", "1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	entries, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("bench did not use ./data: %v, %d entries", err, len(entries))
	}
}
