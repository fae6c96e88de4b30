package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/internal/testrabbit"
)

// TestAMQPSubmitsSurviveCrashes: 10,000 submit messages are published
// with publisher confirms while RabbitMQ is killed with SIGKILL and
// restarted, and then serve is killed with SIGKILL and restarted. Every
// message the broker confirmed (the publisher republishes the others, as
// a real one would) becomes exactly one task, and every task completes.
//
// When a wait gives up it prints what it saw (the publisher's counts,
// the store's, the link's state, the bridge's counters and the stacks of
// the AMQP client's goroutines): once, before the publisher waited for its
// batch as a whole, a publisher stuck after the broker's restart made
// this test fail with nothing to go on.
func TestAMQPSubmitsSurviveCrashes(t *testing.T) {
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	rabbit := testrabbit.Start(t, testrabbit.Options{})
	phase("broker up")
	dir := t.TempDir()
	serveArgs := []string{"--workers", "8", "--lease-duration", "3s", "--amqp", rabbit.URL(), "--amqp-required", "--amqp-prefetch", "200",
		// A classic queue: on a single RabbitMQ 3.10 node (Debian 12's) a
		// quorum queue declared seconds before a SIGKILL comes back
		// without a leader (rabbitmq/rabbitmq-server#10070); docs/amqp.md.
		"--amqp-classic-queue"}
	serve, base := startServe(t, "serve-1", dir, serveArgs...)
	awaitReady(t, base, http.StatusOK)
	// serve has declared its queue; the broker is to crash with that
	// declaration on disk, as a long-running one's would be (a queue
	// declared moments before a SIGKILL can vanish with its confirmed
	// messages: testrabbit.SyncDefinitions, docs/amqp.md).
	rabbit.SyncDefinitions()
	phase("serve ready")

	const total = 10_000
	pub := &confirmingPublisher{url: rabbit.URL(), total: total}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan error, 1)
	go func() { published <- pub.run(ctx) }()

	// The broker dies a fifth of the way in; serve is killed half way.
	pub.await(t, total/5)
	rabbit.Kill()
	phase("broker killed")
	// serve sees the link go and says so in /readyz (503 link_unavailable).
	awaitReady(t, base, http.StatusServiceUnavailable)
	rabbit.Restart()
	awaitReady(t, base, http.StatusOK)
	phase("broker restarted, link up")

	// serve dies half way through storing them, with up to a prefetch
	// of messages delivered and not yet acknowledged.
	awaitStored(t, base, total/2, pub)
	serve.Kill()
	_, base = startServe(t, "serve-2", dir, serveArgs...)
	phase("serve killed and restarted")

	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("publisher: %d of %d confirmed after 3 minutes; %s\n%s", pub.confirmed.Load(), total, amqpState(t, base), amqpStacks())
	}

	phase("every message confirmed")
	// Every confirmed message is one task, and every task completes.
	deadline := time.Now().Add(3 * time.Minute)
	var stats struct {
		Counts map[string]int `json:"counts"`
		Total  int            `json:"total"`
	}
	for {
		if code := call(t, "GET", base+"/api/stats", "", &stats); code != http.StatusOK {
			t.Fatalf("stats: status %d", code)
		}
		if stats.Counts["completed"] == total || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
	phase("every task completed")
	if stats.Total != total || stats.Counts["completed"] != total {
		t.Fatalf("the store holds %d tasks, %v by state; want %d, all completed; %s", stats.Total, stats.Counts, total, amqpState(t, base))
	}
	seen := map[string]bool{}
	for cursor := ""; ; {
		var page struct {
			Tasks []struct {
				ID, State string
			} `json:"tasks"`
			NextCursor string `json:"next_cursor"`
		}
		if code := call(t, "GET", base+"/api/tasks?limit=1000&cursor="+cursor, "", &page); code != http.StatusOK {
			t.Fatalf("list: status %d", code)
		}
		for _, tk := range page.Tasks {
			if seen[tk.ID] {
				t.Fatalf("task %s listed twice", tk.ID)
			}
			seen[tk.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for i := range total {
		if !seen[msgID(i)] {
			t.Fatalf("message %s was confirmed but has no task", msgID(i))
		}
	}
	if len(seen) != total {
		t.Fatalf("%d tasks for %d messages", len(seen), total)
	}
	t.Logf("%d messages, %d publishes (republished after the broker's crash: %d, of them returned unroutable: %d; batches whose confirms stalled: %d); serve-2 %s", total, pub.publishes.Load(),
		pub.publishes.Load()-total, pub.returned.Load(), pub.stalls.Load(), metricLine(t, base, `taskmill_amqp_messages_total{outcome="duplicate_id"}`))
}

// awaitStored waits until the store holds at least n tasks. When it
// gives up it says what it saw: the publisher's count, the store's, the
// link's state and the bridge's counters.
func awaitStored(t *testing.T, base string, n int, pub *confirmingPublisher) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var stats struct {
			Total int `json:"total"`
		}
		if code := call(t, "GET", base+"/api/stats", "", &stats); code == http.StatusOK && stats.Total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not reach %d tasks within 2 minutes: it holds %d; the publisher made %d publishes, %d confirmed; %s\n%s",
				n, stats.Total, pub.publishes.Load(), pub.confirmed.Load(), amqpState(t, base), amqpStacks())
		}
		time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

// amqpStacks is the stacks of this process's goroutines that are in
// the AMQP client or the test's publisher: where a stuck publisher waits.
func amqpStacks() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "amqp091") || strings.Contains(g, "confirmingPublisher") {
			keep = append(keep, g)
		}
	}
	return "goroutines in the AMQP client:\n" + strings.Join(keep, "\n\n")
}

// amqpState is what serve says of its AMQP link: /readyz and the
// bridge's series in /metrics, for a failure message.
func amqpState(t *testing.T, base string) string {
	var b strings.Builder
	if resp, err := http.Get(base + "/readyz"); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		fmt.Fprintf(&b, "/readyz %d %s;", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return b.String() + " /metrics: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "taskmill_amqp_") {
			b.WriteString(" " + line + ";")
		}
	}
	return b.String()
}

// metricLine returns the line of /metrics that starts with series.
func metricLine(t *testing.T, base, series string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series) {
			return line
		}
	}
	return series + " absent"
}

func msgID(i int) string { return fmt.Sprintf("m-%05d", i) }

// awaitReady polls /readyz until it answers want; the deadline only
// guards a hang.
func awaitReady(t *testing.T, base string, want int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer %d within 90s (last: %v, %v)", want, resp, err)
		}
		time.Sleep(20 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

// confirmingPublisher publishes messages 0…total-1 and republishes every
// one the broker did not confirm (its connection died first), as a
// producer that wants each message delivered must.
type confirmingPublisher struct {
	url       string
	total     int
	confirmed atomic.Int64
	publishes atomic.Int64
	returned  atomic.Int64 // unroutable: the broker had no queue by that name
	stalls    atomic.Int64 // batches whose confirms did not all come within 30s
}

func (p *confirmingPublisher) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for int(p.confirmed.Load()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages confirmed within 2 minutes", p.confirmed.Load(), n)
		}
		time.Sleep(10 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

func (p *confirmingPublisher) run(ctx context.Context) error {
	todo := make([]int, p.total)
	for i := range todo {
		todo[i] = i
	}
	const window = 500
	deadline := time.Now().Add(3 * time.Minute)
	for len(todo) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d messages still unconfirmed after 3 minutes", len(todo))
		}
		conn, err := amqp.Dial(p.url)
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the broker is restarting
			continue
		}
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		// Mandatory publishes: a message the broker cannot route (the
		// queue is gone: a broker killed soon after the queue was
		// declared can come back without it until serve declares it
		// again) is returned before its confirm, and republished, where
		// a plain publish would be confirmed and dropped.
		var returns chan amqp.Return
		if err == nil {
			returns = ch.NotifyReturn(make(chan amqp.Return, window))
		}
		for err == nil && len(todo) > 0 {
			batch := todo[:min(window, len(todo))]
			dcs := make([]*amqp.DeferredConfirmation, 0, len(batch))
			for _, i := range batch {
				var dc *amqp.DeferredConfirmation
				dc, err = ch.PublishWithDeferredConfirmWithContext(ctx, "", "taskmill.submit", true, false, amqp.Publishing{
					MessageId: msgID(i), ContentType: "application/json", DeliveryMode: amqp.Persistent,
					Body: fmt.Appendf(nil, `{"type":"echo","payload":{"i":%d}}`, i),
				})
				if err != nil {
					break
				}
				p.publishes.Add(1)
				dcs = append(dcs, dc)
			}
			// One wait for the whole batch: a broker that stops
			// confirming (a blocked connection) costs 30s, not 30s a message.
			acked := make([]bool, len(batch))
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			for k := range dcs {
				acked[k], _ = dcs[k].WaitContext(wctx)
			}
			if wctx.Err() != nil {
				p.stalls.Add(1)
			}
			cancel()
			// The broker sends a message's return before its confirm, and
			// the client queues the return before it settles the confirm:
			// every return of this batch is in the channel now.
			returned := map[string]bool{}
			for drained := false; !drained; {
				select {
				case r, ok := <-returns:
					if ok {
						returned[r.MessageId] = true
					} else {
						drained = true // the channel closed with its connection
					}
				default:
					drained = true
				}
			}
			p.returned.Add(int64(len(returned)))
			var missed []int
			for k, i := range batch {
				if acked[k] && !returned[msgID(i)] {
					p.confirmed.Add(1)
				} else {
					missed = append(missed, i)
				}
			}
			todo = append(missed, todo[len(batch):]...)
			if len(missed) > 0 && err == nil {
				err = fmt.Errorf("%d publishes not confirmed", len(missed))
			}
		}
		conn.Close()
	}
	return nil
}
