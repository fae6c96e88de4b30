package testrabbit_test

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/internal/testrabbit"
)

// TestRestartKeepsConfirmedMessages: what the node confirmed into a
// durable classic queue is there after a SIGKILL and a restart, so tests
// can kill the broker. (Not a quorum queue: on a single RabbitMQ 3.10
// node, the one Debian 12 ships, a quorum queue declared seconds before a
// SIGKILL comes back without a leader, rabbitmq/rabbitmq-server#10070;
// docs/amqp.md says so.)
func TestRestartKeepsConfirmedMessages(t *testing.T) {
	const typ = "classic"
	s := testrabbit.Start(t, testrabbit.Options{})
	conn, err := amqp.Dial(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare("q", true, false, false, false, amqp.Table{"x-queue-type": typ}); err != nil {
		t.Fatal(err)
	}
	_ = ch.Confirm(false)
	// Without this, the queue itself is now and then gone after the
	// restart (SyncDefinitions says why).
	s.SyncDefinitions()
	for range 100 {
		dc, err := ch.PublishWithDeferredConfirm("", "q", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("x")})
		if err != nil || !dc.Wait() {
			t.Fatalf("publish: %v", err)
		}
	}
	conn.Close()
	start := time.Now()
	s.Restart()
	t.Logf("restart took %s", time.Since(start))
	conn, err = amqp.Dial(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ = conn.Channel()
	start = time.Now()
	q, err := ch.QueueDeclarePassive("q", true, false, false, false, amqp.Table{"x-queue-type": typ})
	t.Logf("declare after restart took %s", time.Since(start))
	if err != nil || q.Messages != 100 {
		t.Fatalf("after restart the queue holds %d messages (%v), want 100", q.Messages, err)
	}
	d, err := ch.Consume("q", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-d:
	case <-time.After(90 * time.Second):
		out, _ := s.Ctl("list_queues", "name", "type", "messages", "state", "leader", "members")
		t.Fatalf("no delivery; %s", out)
	}
}
