package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

var prefixSeq atomic.Int64

// testOptions are the options every conformance and shared test opens its
// backends with. The wake fallback (500ms by default) is longer than any
// bound of those tests, so that a test of waking — LeaseWaitWakesOnEnqueue,
// ScheduledBecomesPendingOnTime, TestIdleLeaseWokenByAnotherProcess — passes
// only when the wake message, or the wake at the first due delayed task,
// does its work: an idle lease that looked again every 500ms would pass
// them as well.
func testOptions() redis.Options { return redis.Options{WakeFallback: 30 * time.Second} }

// openTest opens a backend with a key prefix of its own on srv, so
// subtests sharing one server never see each other's keys.
func openTest(t *testing.T, srv *testredis.Server) *redis.Backend {
	t.Helper()
	return openTestClock(t, srv, nil)
}

// openTestClock is openTest with the backend's time taken from clock
// (nil: the server's TIME).
func openTestClock(t *testing.T, srv *testredis.Server, clock backend.Clock) *redis.Backend {
	t.Helper()
	url := fmt.Sprintf("%s?prefix=t%d", srv.URL(), prefixSeq.Add(1))
	opts := testOptions()
	opts.Clock = clock
	b, err := redis.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend { return openTestClock(t, srv, clock) })
}

// TestConformanceCluster runs the suite against a real three-master Redis
// Cluster, so that every script is seen to keep to one slot (Redis
// refuses a script that touches keys of another node) and events and
// wake-ups cross nodes.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	cl := testredis.StartCluster(t, 3)
	// The backend groups queues by the slot it computes; it must be the
	// slot Redis computes, or scripts would span slots.
	probe := openCluster(t, cl)
	for _, q := range []string{"default", "high", "low", "other", "emails", "math", "a", "b", "bench"} {
		got, err := probe.Client().ClusterKeySlot(context.Background(), "tm:{"+q+"}:meta").Result()
		if err != nil {
			t.Fatal(err)
		}
		if int(got) != redis.Slot(q) {
			t.Fatalf("slot of queue %q: backend says %d, Redis %d", q, redis.Slot(q), got)
		}
	}
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend { return openClusterClock(t, cl, clock) })
	// Purge merges the queues' finish logs across slots, so across nodes.
	t.Run("PurgeOldestFirstAcrossSlots", func(t *testing.T) { testPurgeOldestFirst(t, openCluster(t, cl)) })
	t.Run("PurgeQueuesTakingTurns", func(t *testing.T) { testPurgeTakingTurns(t, openCluster(t, cl)) })
}

func openCluster(t *testing.T, cl *testredis.Cluster) *redis.Backend {
	t.Helper()
	return openClusterClock(t, cl, nil)
}

func openClusterClock(t *testing.T, cl *testredis.Cluster, clock backend.Clock) *redis.Backend {
	t.Helper()
	url := fmt.Sprintf("%s?prefix=c%d", cl.URL(), prefixSeq.Add(1))
	opts := testOptions()
	opts.Clock = clock
	b, err := redis.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformanceSentinel runs the suite through a real Redis Sentinel:
// the backend finds the master by asking the Sentinel.
func TestConformanceSentinel(t *testing.T) {
	master := testredis.Start(t, testredis.Options{})
	sentinel := testredis.StartSentinel(t, master)
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		url := fmt.Sprintf("%s&prefix=s%d", sentinel.SentinelURL(), prefixSeq.Add(1))
		opts := testOptions()
		opts.Clock = clock
		b, err := redis.Open(context.Background(), url, opts)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestConformanceTLSAndPassword runs the suite over rediss:// against a
// redis-server that speaks only TLS and requires a password, trusting
// the test's own CA through tls_ca.
func TestConformanceTLSAndPassword(t *testing.T) {
	srv, ca := testredis.StartTLS(t, "s3cret")
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		url := fmt.Sprintf("rediss://:s3cret@%s/0?tls_ca=%s&prefix=tls%d", srv.Addr(), ca, prefixSeq.Add(1))
		opts := testOptions()
		opts.Clock = clock
		b, err := redis.Open(context.Background(), url, opts)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
	// The wrong password and an untrusted certificate are refused.
	for _, bad := range []string{
		fmt.Sprintf("rediss://:wrong@%s/0?tls_ca=%s", srv.Addr(), ca),
		fmt.Sprintf("rediss://:s3cret@%s/0", srv.Addr()),
	} {
		if b, err := redis.Open(context.Background(), bad, testOptions()); err == nil {
			b.Close()
			t.Fatalf("open with %s succeeded", bad)
		}
	}
}

// TestDifferential runs random operations against the reference model and
// a Redis backend side by side (backendtest.Differential); the backend
// takes every time from the test's clock.
func TestDifferential(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	backendtest.Differential(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		url := fmt.Sprintf("%s?prefix=d%d", srv.URL(), prefixSeq.Add(1))
		opts := testOptions()
		opts.Clock = clock
		b, err := redis.Open(context.Background(), url, opts)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
