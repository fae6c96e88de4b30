package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var idSeq atomic.Int64

func task(queue string) *backend.Task {
	return &backend.Task{ID: fmt.Sprintf("%016x-%06d", time.Now().UnixNano(), idSeq.Add(1)), Type: "echo", Queue: queue,
		State: backend.StatePending, MaxAttempts: 3, CreatedAt: time.Now().UTC(), Payload: json.RawMessage(`{"n":1}`)}
}

// Two Backend values on one Redis stand for two processes: each has its
// own connections, pub/sub subscription and lease memory.
func twoProcesses(t *testing.T, srv *testredis.Server) (*redis.Backend, *redis.Backend) {
	t.Helper()
	url := fmt.Sprintf("%s?prefix=shared%d", srv.URL(), prefixSeq.Add(1))
	open := func() *redis.Backend {
		b, err := redis.Open(context.Background(), url, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	return open(), open()
}

func TestEventsFromAnotherProcess(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, b := twoProcesses(t, srv)
	ctx := ctxFor(t)
	events, err := a.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tk := task("default")
	if _, err := b.Enqueue(ctx, []*backend.Task{tk}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e.Kind != backend.EventTaskUpdate || e.Task.ID != tk.ID || e.Task.State != backend.StatePending || e.Task.Type != "echo" {
			t.Fatalf("event = %+v %+v", e, e.Task)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event from the other process within 5s")
	}
}

// TestEventsChannelLeftWithTheLastSubscriber: a process listens to the
// events channel only while it has subscribers. When the last one's ctx
// ends it unsubscribes, so PUBSUB NUMSUB drops to 0 and the scripts of
// every process stop publishing events; a new Subscribe joins again and
// receives them.
func TestEventsChannelLeftWithTheLastSubscriber(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	watcher, other := twoProcesses(t, srv)
	ctx := ctxFor(t)
	channel := watcher.Prefix() + ":events"
	numsub := func() int64 {
		t.Helper()
		m, err := other.Client().PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[channel]
	}
	waitNumsub := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for numsub() != want {
			if time.Now().After(deadline) {
				t.Fatalf("PUBSUB NUMSUB %s = %d, want %d", channel, numsub(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	closed := func(ch <-chan backend.Event) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-timeout:
				t.Fatal("the subscription did not end with its ctx")
			}
		}
	}
	if n := numsub(); n != 0 {
		t.Fatalf("NUMSUB before any Subscribe = %d", n)
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	ev1, err := watcher.Subscribe(ctx1)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(ctx)
	ev2, err := watcher.Subscribe(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	waitNumsub(1)
	cancel1()
	closed(ev1)
	// Proving that the channel was NOT left needs a pause: Redis sends no
	// event for an unsubscribe that does not happen. A wrong unsubscribe
	// would have been sent before ev1 closed, so this pause only has to
	// cover its round trip.
	time.Sleep(100 * time.Millisecond)
	if n := numsub(); n != 1 {
		t.Fatalf("NUMSUB with one subscriber left = %d, want 1", n)
	}
	cancel2()
	closed(ev2)
	waitNumsub(0)

	// Nobody listens: the enqueue script publishes nothing. A pattern
	// subscription sees what is published without counting in NUMSUB.
	spy := other.Client().PSubscribe(ctx, channel+"*")
	defer spy.Close()
	if _, err := spy.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	unheard := task("default")
	if _, err := other.Enqueue(ctx, []*backend.Task{unheard}); err != nil {
		t.Fatal(err)
	}

	// Subscribing again joins the channel again.
	ev3, err := watcher.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitNumsub(1)
	tk := task("default")
	if _, err := other.Enqueue(ctx, []*backend.Task{tk}); err != nil {
		t.Fatal(err)
	}
	// Redis delivers what it publishes in order: had the first enqueue
	// published, the spy would hear it before this one. No waiting for an
	// absence is needed.
	select {
	case m := <-spy.Channel():
		if strings.Contains(m.Payload, unheard.ID) || !strings.Contains(m.Payload, tk.ID) {
			t.Fatalf("first message the spy heard: %s; want only the event of %s", m.Payload, tk.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the spy heard nothing after subscribing again")
	}
	select {
	case e := <-ev3:
		if e.Kind != backend.EventTaskUpdate || e.Task.ID != tk.ID {
			t.Fatalf("event = %+v", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event after subscribing again")
	}
}

// TestOneResyncAfterADroppedConnection: when the pub/sub connection
// breaks, a subscriber receives one resync — once the connection is back,
// so that what it reloads is not missing events published meanwhile —
// and then the events that follow.
func TestOneResyncAfterADroppedConnection(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	watcher, other := twoProcesses(t, srv)
	ctx := ctxFor(t)
	events, err := watcher.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	resyncs := 0
	select {
	case e := <-events:
		if e.Kind != backend.EventResync {
			t.Fatalf("first event after the drop = %+v, want a resync", e)
		}
		resyncs++
	case <-time.After(10 * time.Second):
		t.Fatal("no resync within 10s of the dropped connection")
	}
	channel := watcher.Prefix() + ":events"
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := other.Client().PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		if m[channel] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not subscribe again within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tk := task("default")
	if _, err := other.Enqueue(ctx, []*backend.Task{tk}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-events:
			if e.Kind == backend.EventResync {
				resyncs++
				continue
			}
			if e.Kind != backend.EventTaskUpdate || e.Task.ID != tk.ID {
				t.Fatalf("event = %+v", e)
			}
			if resyncs != 1 {
				t.Fatalf("%d resyncs for one dropped connection, want 1", resyncs)
			}
			return
		case <-time.After(30 * time.Second):
			t.Fatal("no event after the connection came back")
		}
	}
}

func TestWatchCancelsAcrossProcesses(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	worker, api := twoProcesses(t, srv)
	ctx := ctxFor(t)
	ids, err := worker.WatchCancels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tk := task("default")
	if _, err := api.Enqueue(ctx, []*backend.Task{tk}); err != nil {
		t.Fatal(err)
	}
	leased, err := worker.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v %d", err, len(leased))
	}
	// The api process never leased the task: it must find its queue.
	if _, err := api.Cancel(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ids:
		if id != tk.ID {
			t.Fatalf("canceled id = %s, want %s", id, tk.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancellation not streamed within 5s")
	}
	if err := worker.Ack(ctx, leased[0].Ref(), nil); !errors.Is(err, backend.ErrLeaseLost) {
		t.Fatalf("ack after cancel: %v, want ErrLeaseLost", err)
	}
}

func TestIdleLeaseWokenByAnotherProcess(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	worker, api := twoProcesses(t, srv)
	ctx := ctxFor(t)
	// Prime the queue so both know it; then wait on an empty queue.
	got := make(chan time.Time, 1)
	go func() {
		l, err := worker.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute, Wait: 20 * time.Second})
		if err == nil && len(l) == 1 {
			got <- time.Now()
		}
		close(got)
	}()
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	if _, err := api.Enqueue(ctx, []*backend.Task{task("default")}); err != nil {
		t.Fatal(err)
	}
	at, ok := <-got
	if !ok {
		t.Fatal("blocked lease returned nothing")
	}
	// The backends look again on their own only every 30s here
	// (testOptions), and the lease waits up to 20s: only the wake message
	// from the other process can bring it back within the bound, which is
	// loose for a loaded machine under -race (half the lease's own wait).
	if d := at.Sub(sent); d > 10*time.Second {
		t.Fatalf("lease woke %v after the submit", d)
	}
}

func TestSubmitSurvivesRedisRestartWithAOF(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{AOF: true})
	b := openTest(t, srv)
	ctx := ctxFor(t)
	var tasks []*backend.Task
	for range 50 {
		tasks = append(tasks, task("default"))
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 10, LeaseFor: time.Minute})
	if err != nil || len(leased) != 10 {
		t.Fatalf("lease: %v %d", err, len(leased))
	}
	for _, l := range leased[:5] {
		if err := b.Ack(ctx, l.Ref(), json.RawMessage(`"ok"`)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart() // SIGKILL, then start on the same AOF
	// The same backend reconnects by itself, reloads its scripts, and
	// sees everything that was acknowledged.
	deadline := time.Now().Add(10 * time.Second)
	for b.Ping(ctx) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	qs, err := b.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := qs[0].Counts
	if c[backend.StatePending] != 40 || c[backend.StateProcessing] != 5 || c[backend.StateCompleted] != 5 {
		t.Fatalf("counts after restart = %v, want 40 pending, 5 processing, 5 completed", c)
	}
	for _, l := range leased[5:] {
		if err := b.Ack(ctx, l.Ref(), nil); err != nil {
			t.Fatalf("ack after restart: %v", err)
		}
	}
	if got, err := b.Get(ctx, leased[0].ID); err != nil || got.State != backend.StateCompleted || string(got.Result) != `"ok"` {
		t.Fatalf("acked task after restart: %v %+v", err, got)
	}
}

func TestWaitReplicas(t *testing.T) {
	primary := testredis.Start(t, testredis.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	host, port := "127.0.0.1", primary.Addr()[len("127.0.0.1:"):]
	replica := testredis.Start(t, testredis.Options{Args: []string{"--replicaof", host, port}})
	ctx := ctxFor(t)
	// Wait until the replica has synced (state=online), not just connected.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("redis-cli", "-p", port, "info", "replication").Output()
		if strings.Contains(between(string(out), "slave0:", "\r"), "state=online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s never attached", replica.Addr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	one, err := redis.Open(ctx, primary.URL()+"?prefix=w1&wait_replicas=1&wait_timeout=2s", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := one.Enqueue(ctx, []*backend.Task{task("default")}); err != nil {
		t.Fatalf("enqueue waiting for the one replica: %v", err)
	}
	two, err := redis.Open(ctx, primary.URL()+"?prefix=w2&wait_replicas=2&wait_timeout=200ms", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	_, err = two.Enqueue(ctx, []*backend.Task{task("default")})
	if !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("enqueue waiting for 2 of 1 replicas: %v, want ErrNotReplicated", err)
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// TestSentinelFailover: a submit that waited for the replica survives the
// loss of the master; the backend follows Sentinel to the promoted
// replica by itself and keeps working.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a Sentinel failover")
	}
	master := testredis.Start(t, testredis.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	mport := master.Addr()[len("127.0.0.1:"):]
	replica := testredis.Start(t, testredis.Options{Args: []string{"--replicaof", "127.0.0.1", mport}})
	sentinel := testredis.StartSentinel(t, master)
	sport := sentinel.Addr()[len("127.0.0.1:"):]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Sentinel learns of replicas from the master's INFO, every few seconds.
	waitFor("the Sentinel to know the replica", func() bool {
		out, _ := exec.Command("redis-cli", "-p", sport, "sentinel", "replicas", "mymaster").Output()
		return strings.Contains(string(out), replica.Addr()[len("127.0.0.1:"):])
	})
	b, err := redis.Open(ctx, sentinel.SentinelURL()+"&wait_replicas=1&wait_timeout=5s", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var tasks []*backend.Task
	for range 20 {
		tasks = append(tasks, task("default"))
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatalf("enqueue waiting for the replica: %v", err)
	}
	master.Kill()
	// The backend reconnects to whichever server Sentinel promotes.
	var got *backend.Task
	waitFor("the backend to reach the promoted replica", func() bool {
		t, err := b.Get(ctx, tasks[19].ID)
		got = t
		return err == nil
	})
	if got.State != backend.StatePending {
		t.Fatalf("task after failover: %+v", got)
	}
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 100, LeaseFor: time.Minute})
	if err != nil || len(leased) != 20 {
		t.Fatalf("lease after failover: %v, %d tasks, want all 20", err, len(leased))
	}
	for _, l := range leased {
		if err := b.Ack(ctx, l.Ref(), nil); err != nil {
			t.Fatalf("ack after failover: %v", err)
		}
	}
}
