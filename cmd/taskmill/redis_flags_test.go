package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// Bad command lines of worker and bench exit with code 2 and say what is
// wrong, before anything connects anywhere.
func TestWorkerAndBenchRefuseBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--concurrency", "0"}, "--concurrency"},
		{[]string{"worker", "--lease-duration", "10ms"}, "--lease-duration"},
		{[]string{"worker", "--queues", "a=0"}, "weight"},
		{[]string{"worker", "--queues", "bad name"}, "--queues"},
		{[]string{"worker", "--queues", "a=1", "--strict", "b"}, "not both"},
		{[]string{"worker", "--id", "no spaces please"}, "--id"},
		{[]string{"worker", "--backend", "memcached://x"}, "unknown scheme"},
		{[]string{"worker", "--backend", "redis-sentinel://h:26379"}, "master"},
		{[]string{"worker", "--redis-wait-replicas", "-1", "--backend", "redis://127.0.0.1:1"}, "--redis-wait-replicas"},
		{[]string{"worker", "extra"}, "unexpected argument"},
		{[]string{"bench", "--mode", "fast"}, "--mode"},
		{[]string{"bench", "--tasks", "0"}, "--tasks"},
		{[]string{"bench", "--concurrency", "0"}, "--concurrency"},
		{[]string{"bench", "--rate", "-5"}, "--rate"},
		{[]string{"bench", "--payload", "3"}, "--payload"},
		{[]string{"bench", "--batch", "0"}, "--batch"},
		{[]string{"bench", "--backend", "ftp://x"}, "--backend"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			code := Run(context.Background(), tc.args, io.Discard, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
}

func TestRedisSettingsApply(t *testing.T) {
	r := &redisSettings{waitReplicas: 2}
	got, err := r.apply("redis://:pw@h:6379/0?prefix=x")
	if err != nil || !strings.Contains(got, "wait_replicas=2") || !strings.Contains(got, "prefix=x") {
		t.Fatalf("apply = %q, %v", got, err)
	}
	if got, _ := r.apply("file:///data"); got != "file:///data" {
		t.Fatalf("an embedded URL changed: %q", got)
	}
	if got, _ := (&redisSettings{}).apply("redis://h"); got != "redis://h" {
		t.Fatalf("zero settings changed the URL: %q", got)
	}
}
