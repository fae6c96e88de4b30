package amqpbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testrabbit"
	"github.com/taskmill/taskmill/internal/testredis"
	"github.com/taskmill/taskmill/server"
	"github.com/taskmill/taskmill/tasktypes"
)

// rig is one bridge over its own embedded store, with in-process workers
// running the built-in task types, consuming its own queue of a shared
// private RabbitMQ node.
type rig struct {
	t          *testing.T
	rabbit     *testrabbit.Server
	b          backend.Backend
	mux        *taskmill.ServeMux
	client     *taskmill.Client
	bridge     *amqpbridge.Bridge
	stopBridge func()
	reg        *prometheus.Registry
	queue      string
	events     string
	classic    bool
	url        string
	submitted  atomic.Int64     // calls of Config.Submitted
	conn       *amqp.Connection // the producer's
	ch         *amqp.Channel    // the producer's, in confirm mode
	confirm    chan amqp.Confirmation
}

type rigOptions struct {
	workers bool                               // run the built-in types in-process
	events  string                             // Config.EventsExchange
	backend func(t *testing.T) backend.Backend // default a fresh embedded store
	classic bool                               // Config.ClassicQueue
	url     string                             // the bridge's; default the plain listener
}

func newRig(t *testing.T, rabbit *testrabbit.Server, queue string, opts rigOptions) *rig {
	t.Helper()
	var b backend.Backend
	var err error
	if opts.backend != nil {
		b = opts.backend(t)
	} else {
		if b, err = embedded.Open(t.TempDir(), embedded.Options{Logger: quiet()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
	}
	r := &rig{t: t, b: b, queue: queue, mux: taskmill.NewServeMux(), events: opts.events, rabbit: rabbit, classic: opts.classic, url: opts.url}
	if r.url == "" {
		r.url = rabbit.URL()
	}
	if err := tasktypes.Register(r.mux, tasktypes.Config{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if opts.workers {
		r.startWorkers()
	}
	r.client = taskmill.NewClient(b, taskmill.ClientConfig{Types: r.mux, RejectUnknownTypes: true, Logger: quiet()})
	r.startBridge()

	if r.conn, err = amqp.Dial(rabbit.URL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	if r.ch, err = r.conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if err := r.ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	r.confirm = r.ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	return r
}

// startWorkers runs the built-in task types on the rig's store.
func (r *rig) startWorkers() {
	r.t.Helper()
	w, err := taskmill.NewWorker(r.b, taskmill.WorkerConfig{Handler: r.mux, Concurrency: 4, Logger: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = w.Stop(context.Background()) })
}

// startBridge runs a fresh bridge (with fresh metrics) until stopBridge
// or the end of the test, and waits for its link to come up.
func (r *rig) startBridge() {
	r.t.Helper()
	r.reg = prometheus.NewRegistry()
	var err error
	r.bridge, err = amqpbridge.New(amqpbridge.Config{URL: r.url, Client: r.client, Queue: r.queue,
		EventsExchange: r.events, ClassicQueue: r.classic, Metrics: r.reg, Logger: quiet(), Required: true,
		Submitted: func(typ, queue string) {
			if typ != "" && queue != "" {
				r.submitted.Add(1)
			}
		}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.bridge.Run(ctx)
	}()
	var once sync.Once
	r.stopBridge = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	r.t.Cleanup(r.stopBridge)
	awaitf(r.t, 60*time.Second, func() bool { return r.bridge.LinkStatus().State == server.LinkUp }, "the link to come up: %+v", r.bridge.LinkStatus())
}

func quiet() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// publish sends one submit message and waits for the broker's confirm.
func (r *rig) publish(msg amqp.Publishing) {
	r.t.Helper()
	if msg.ContentType == "" {
		msg.ContentType = "application/json"
	}
	if err := r.ch.Publish("", r.queue, false, false, msg); err != nil {
		r.t.Fatal(err)
	}
	select {
	case c := <-r.confirm:
		if !c.Ack {
			r.t.Fatalf("broker nacked the publish")
		}
	case <-time.After(30 * time.Second):
		r.t.Fatal("no publisher confirm within 30s")
	}
}

// replyQueue declares an exclusive, server-named queue and consumes it.
func (r *rig) replyQueue() (string, <-chan amqp.Delivery) {
	r.t.Helper()
	ch, err := r.conn.Channel()
	if err != nil {
		r.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return q.Name, d
}

func (r *rig) count(outcome string) int {
	return int(testutil.ToFloat64(counterOf(r.t, r.reg, "taskmill_amqp_messages_total", outcome)))
}

// counterOf reads one series of a registry's metric family: the one with
// a label of that value, or the unlabelled one for ""; 0 when a labelled
// series was never touched (it is not gathered then).
func counterOf(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	return collectorFunc(func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := label == "" && len(m.GetLabel()) == 0
				for _, lp := range m.GetLabel() {
					match = match || lp.GetValue() == label
				}
				if match {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
		return 0
	})
}

type collectorFunc func() float64

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("x", "x", nil, nil), prometheus.GaugeValue, f())
}

// awaitf polls cond until it holds; the deadline only guards a hang.
func awaitf(t *testing.T, limit time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for "+format, append([]any{limit}, args...)...)
		}
		time.Sleep(20 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

func receive(t *testing.T, ch <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatal("reply channel closed")
		}
		return d
	case <-time.After(60 * time.Second):
		t.Fatal("no message within 60s")
	}
	return amqp.Delivery{}
}

// TestBridge runs every in-process scenario against one private node, each
// on its own queue and its own store (a node takes seconds to start).
func TestBridge(t *testing.T) {
	rabbit := testrabbit.Start(t, testrabbit.Options{TLS: true})
	t.Run("SubmitAndReply", func(t *testing.T) { testSubmitAndReply(t, rabbit) })
	t.Run("TLS", func(t *testing.T) { testTLS(t, rabbit) })
	t.Run("DeadLetter", func(t *testing.T) { testDeadLetter(t, rabbit) })
	t.Run("RedeliveryMakesOneTask", func(t *testing.T) { testRedelivery(t, rabbit) })
	t.Run("EventsExchange", func(t *testing.T) { testEvents(t, rabbit) })
	t.Run("ReplyAfterBridgeRestart", func(t *testing.T) { testReplyAfterRestart(t, rabbit) })
	t.Run("BackendDownRequeues", func(t *testing.T) { testBackendDown(t, rabbit) })
	t.Run("QueueDeletedRecovers", func(t *testing.T) { testQueueDeleted(t, rabbit) })
	// Last: it kills the shared node.
	t.Run("ReplyAfterBrokerRestart", func(t *testing.T) { testReplyAfterBrokerRestart(t, rabbit) })
}

func testSubmitAndReply(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.reply", rigOptions{workers: true})
	replyTo, replies := r.replyQueue()
	r.publish(amqp.Publishing{MessageId: "fib-35", ReplyTo: replyTo, CorrelationId: "corr-1",
		Body: []byte(`{"type":"fibonacci","payload":{"n":35}}`)})
	d := receive(t, replies)
	if d.CorrelationId != "corr-1" || d.MessageId != "fib-35" || d.ContentType != "application/json" {
		t.Fatalf("reply properties: correlation %q, message id %q, content type %q", d.CorrelationId, d.MessageId, d.ContentType)
	}
	var rep amqpbridge.Reply
	if err := json.Unmarshal(d.Body, &rep); err != nil {
		t.Fatalf("reply body %s: %v", d.Body, err)
	}
	var fib tasktypes.FibonacciResult
	if err := json.Unmarshal(rep.Result, &fib); err != nil || rep.State != "completed" || rep.ID != "fib-35" || fib.Value != "9227465" {
		t.Fatalf("reply %s (%v)", d.Body, err)
	}
	task, err := r.client.Get(context.Background(), "fib-35")
	if err != nil || task.State != taskmill.StateCompleted {
		t.Fatalf("task fib-35: %+v, %v", task, err)
	}
	// One reply: the sent counter stops at one and nothing is pending.
	awaitf(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(counterOf(t, r.reg, "taskmill_amqp_replies_total", "sent")) == 1
	}, "the reply to be counted")
	if n := testutil.ToFloat64(counterOf(t, r.reg, "taskmill_amqp_pending_replies", "")); n != 0 {
		t.Fatalf("%v replies still pending", n)
	}

	// A canceled task answers with its state.
	r.publish(amqp.Publishing{MessageId: "long-sleep", ReplyTo: replyTo, CorrelationId: "corr-2",
		Body: []byte(`{"type":"sleep","payload":{"ms":600000}}`)})
	awaitf(t, 30*time.Second, func() bool { _, err := r.client.Get(context.Background(), "long-sleep"); return err == nil }, "the task to be stored")
	if _, err := r.client.Cancel(context.Background(), "long-sleep"); err != nil {
		t.Fatal(err)
	}
	d = receive(t, replies)
	rep = amqpbridge.Reply{}
	if err := json.Unmarshal(d.Body, &rep); err != nil || d.CorrelationId != "corr-2" || rep.State != "canceled" || rep.ID != "long-sleep" {
		t.Fatalf("second reply %s, correlation %q (%v)", d.Body, d.CorrelationId, err)
	}
}

func testDeadLetter(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.dead", rigOptions{})
	dead, err := r.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deadMsgs, err := dead.Consume("t.dead.dlx.dead", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replyTo, replies := r.replyQueue()
	cases := []struct {
		name, body, messageID, contentType string
		code, field                        string
	}{
		{"not JSON", `{"type":`, "", "", "invalid_json", "body"},
		{"unknown field", `{"type":"echo","colour":1}`, "", "", "invalid_unknown", "colour"},
		{"priority out of range", `{"type":"echo","priority":5000}`, "", "", "invalid_range", "priority"},
		{"unknown type", `{"type":"no_such_type"}`, "", "", "invalid_unknown", "type"},
		{"payload schema", `{"type":"fibonacci","payload":{"n":-1}}`, "", "", "invalid_range", "payload.n"},
		{"bad message id", `{"type":"echo"}`, "has space", "", "invalid_charset", "message_id"},
		{"id conflict", `{"type":"echo","id":"a"}`, "b", "", "invalid_conflict", "id"},
		{"content type", `{"type":"echo"}`, "", "text/plain", "invalid_media_type", "content_type"},
	}
	for i, c := range cases {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.publish(amqp.Publishing{Body: []byte(c.body), MessageId: c.messageID, ContentType: ct,
			ReplyTo: replyTo, CorrelationId: fmt.Sprint(i), Headers: amqp.Table{"case": c.name}})
	}
	got := map[string]amqp.Delivery{}
	for range cases {
		d := receive(t, deadMsgs)
		got[fmt.Sprint(d.Headers["case"])] = d
	}
	for _, c := range cases {
		d, ok := got[c.name]
		if !ok {
			t.Errorf("%s: not dead-lettered", c.name)
			continue
		}
		code, field, msg := d.Headers[amqpbridge.HeaderErrorCode], d.Headers[amqpbridge.HeaderErrorField], d.Headers[amqpbridge.HeaderErrorMessage]
		if code != c.code || field != c.field || msg == "" || string(d.Body) != c.body {
			t.Errorf("%s: headers code=%v field=%v message=%v, body %s; want %s on %s", c.name, code, field, msg, d.Body, c.code, c.field)
		}
	}
	// Each producer hears of its refusal too.
	for range cases {
		var rep amqpbridge.Reply
		d := receive(t, replies)
		if err := json.Unmarshal(d.Body, &rep); err != nil || rep.State != amqpbridge.StateRejected || rep.ErrorCode == "" {
			t.Errorf("refusal reply %s (%v)", d.Body, err)
		}
	}
	// Nothing reached the backend.
	page, err := r.b.List(context.Background(), backend.Filter{})
	if err != nil || len(page.Tasks) != 0 {
		t.Fatalf("the store holds %d tasks after refused messages (%v)", len(page.Tasks), err)
	}
	if n := r.count("dead_lettered"); n != len(cases) {
		t.Fatalf("dead_lettered counter %d, want %d", n, len(cases))
	}
}

func testRedelivery(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.redeliver", rigOptions{})
	body := []byte(`{"type":"echo","payload":{"x":1}}`)
	// The same message_id three times: as the broker redelivers a message
	// whose ack was lost, and as a producer retrying its publish.
	for range 3 {
		r.publish(amqp.Publishing{MessageId: "same-id", Body: body})
	}
	awaitf(t, 30*time.Second, func() bool { return r.count("stored")+r.count("duplicate_id") == 3 }, "three messages settled")
	if r.count("stored") != 1 || r.count("duplicate_id") != 2 || r.submitted.Load() != 1 {
		t.Fatalf("stored %d, duplicate %d, Submitted called %d times; want 1, 2 and 1", r.count("stored"), r.count("duplicate_id"), r.submitted.Load())
	}
	page, err := r.b.List(context.Background(), backend.Filter{})
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "same-id" {
		t.Fatalf("tasks after three deliveries of one id: %d (%v)", len(page.Tasks), err)
	}
	// Every message was acknowledged: the queue is empty.
	q, err := r.ch.QueueDeclarePassive("t.redeliver", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	if err != nil || q.Messages != 0 {
		t.Fatalf("queue holds %d messages (%v)", q.Messages, err)
	}
}

func testEvents(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.events", rigOptions{workers: true, events: "t.events.x"})
	ch, err := r.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Only final states of echo tasks: the routing key is task.<state>.<type>.
	if err := ch.QueueBind(q.Name, "task.completed.echo", "t.events.x", false, nil); err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.publish(amqp.Publishing{MessageId: "ev-1", Body: []byte(`{"type":"echo","payload":{"hello":"events"}}`)})
	d := receive(t, msgs)
	var ev backend.Event
	if err := json.Unmarshal(d.Body, &ev); err != nil || ev.Kind != backend.EventTaskUpdate || ev.Task == nil ||
		ev.Task.ID != "ev-1" || ev.Task.State != backend.StateCompleted || string(ev.Task.Result) != `{"hello":"events"}` {
		t.Fatalf("event %s (%v)", d.Body, err)
	}
	if d.RoutingKey != "task.completed.echo" {
		t.Fatalf("routing key %q", d.RoutingKey)
	}
	// Confirmed by the broker: pending, processing and completed at least.
	awaitf(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(counterOf(t, r.reg, "taskmill_amqp_events_total", "published")) >= 3
	}, "three confirmed events")
}

// testReplyAfterBridgeRestart: the reply address lives in the task, so a
// bridge started after the one that consumed the submit still answers.
func testReplyAfterRestart(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.adopt", rigOptions{})
	replyTo, replies := r.replyQueue()
	r.publish(amqp.Publishing{MessageId: "adopt-1", ReplyTo: replyTo, CorrelationId: "corr-adopt",
		Body: []byte(`{"type":"fibonacci","payload":{"n":10}}`)})
	awaitf(t, 30*time.Second, func() bool { return r.count("stored") == 1 }, "the submit to be stored")
	r.stopBridge()
	r.startBridge() // knows nothing of adopt-1 but what the task records
	r.startWorkers()
	d := receive(t, replies)
	var rep amqpbridge.Reply
	if err := json.Unmarshal(d.Body, &rep); err != nil || d.CorrelationId != "corr-adopt" || rep.ID != "adopt-1" || rep.State != "completed" {
		t.Fatalf("reply after restart %s, correlation %q (%v)", d.Body, d.CorrelationId, err)
	}
}

// testBackendDown: while the backend is unreachable, messages go back to
// the queue (never to the dead-letter exchange), and they are stored once
// it is back.
func testBackendDown(t *testing.T, rabbit *testrabbit.Server) {
	rs := testredis.Start(t, testredis.Options{AOF: true})
	r := newRig(t, rabbit, "t.down", rigOptions{backend: func(t *testing.T) backend.Backend {
		b, err := redis.Open(context.Background(), rs.URL(), redis.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}})
	rs.Kill()
	r.publish(amqp.Publishing{MessageId: "down-1", Body: []byte(`{"type":"echo"}`)})
	awaitf(t, 60*time.Second, func() bool { return r.count("requeued") >= 2 }, "the message to be requeued twice")
	rs.Restart()
	awaitf(t, 60*time.Second, func() bool { return r.count("stored") == 1 }, "the message to be stored after the backend came back")
	if _, err := r.client.Get(context.Background(), "down-1"); err != nil {
		t.Fatal(err)
	}
	q, err := r.ch.QueueDeclarePassive("t.down.dlx.dead", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	if err != nil || q.Messages != 0 || r.count("dead_lettered") != 0 {
		t.Fatalf("dead-letter queue holds %d messages, counter %d (%v)", q.Messages, r.count("dead_lettered"), err)
	}
}

// testQueueDeleted: the broker cancels the consumer when its queue is
// deleted; the bridge reconnects, declares the queue again and consumes.
func testQueueDeleted(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.deleted", rigOptions{})
	connects := func() float64 { return testutil.ToFloat64(counterOf(t, r.reg, "taskmill_amqp_connects_total", "")) }
	if n := connects(); n != 1 {
		t.Fatalf("%v connects before the delete", n)
	}
	if _, err := r.ch.QueueDelete("t.deleted", false, false, false); err != nil {
		t.Fatal(err)
	}
	awaitf(t, 60*time.Second, func() bool { return connects() == 2 && r.bridge.LinkStatus().State == server.LinkUp }, "a new session")
	r.publish(amqp.Publishing{MessageId: "after-delete", Body: []byte(`{"type":"echo"}`)})
	awaitf(t, 30*time.Second, func() bool { return r.count("stored") == 1 }, "the message to be stored")
}

// testReplyAfterBrokerRestart: a task that finishes while the broker is
// down is answered once the bridge has reconnected.
func testReplyAfterBrokerRestart(t *testing.T, rabbit *testrabbit.Server) {
	// A classic submit queue: a single-node quorum queue declared seconds
	// before a SIGKILL comes back without a leader (docs/amqp.md).
	r := newRig(t, rabbit, "t.brokerdown", rigOptions{workers: true, classic: true})
	// A durable reply queue: an exclusive one would die with the broker.
	if _, err := r.ch.QueueDeclare("t.brokerdown.replies", true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		t.Fatal(err)
	}
	r.publish(amqp.Publishing{MessageId: "slow-1", ReplyTo: "t.brokerdown.replies", CorrelationId: "corr-slow",
		Body: []byte(`{"type":"sleep","payload":{"ms":1500}}`)})
	ctx := context.Background()
	awaitf(t, 30*time.Second, func() bool {
		task, err := r.client.Get(ctx, "slow-1")
		return err == nil && task.State == taskmill.StateProcessing
	}, "the task to start")
	// The reply queue must outlive the crash (testrabbit.SyncDefinitions).
	rabbit.SyncDefinitions()
	rabbit.Kill()
	awaitf(t, 30*time.Second, func() bool {
		task, err := r.client.Get(ctx, "slow-1")
		return err == nil && task.State == taskmill.StateCompleted
	}, "the task to complete while the broker is down")
	if st := r.bridge.LinkStatus().State; st == server.LinkUp {
		t.Fatalf("link %s with the broker killed", st)
	}
	rabbit.Restart()
	conn, err := amqp.Dial(rabbit.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume("t.brokerdown.replies", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := receive(t, msgs)
	var rep amqpbridge.Reply
	if err := json.Unmarshal(d.Body, &rep); err != nil || d.CorrelationId != "corr-slow" || rep.ID != "slow-1" || rep.State != "completed" {
		t.Fatalf("reply after the broker's restart %s, correlation %q (%v)", d.Body, d.CorrelationId, err)
	}
}

// testTLS: an amqps:// URL with the CA to trust is all the bridge needs.
func testTLS(t *testing.T, rabbit *testrabbit.Server) {
	r := newRig(t, rabbit, "t.tls", rigOptions{url: rabbit.TLSURL()})
	r.publish(amqp.Publishing{MessageId: "over-tls", Body: []byte(`{"type":"echo"}`)})
	awaitf(t, 30*time.Second, func() bool { return r.count("stored") == 1 }, "the message to be stored")
	if !strings.HasPrefix(rabbit.TLSURL(), "amqps://") {
		t.Fatalf("TLS URL %q", rabbit.TLSURL())
	}
}
