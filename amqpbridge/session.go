package amqpbridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one connection to the broker with the channels the bridge
// uses on it. Any error on the connection or on one of its channels ends
// the session: the bridge then closes it and connects afresh, which also
// makes the broker hand every unacknowledged message back to its queue.
type session struct {
	conn    *amqp.Connection
	pub     *amqp.Channel // confirm mode: replies, dead letters, events
	consume *amqp.Channel // submits, with Qos(Prefetch)

	closed    chan struct{} // closed when the connection or a channel ends
	closeOnce sync.Once
	mu        sync.Mutex
	err       error // why it ended
}

func (s *session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *session) end(err error) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.closed)
	})
}

func (s *session) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// close ends the session and its connection; safe to call more than once.
func (s *session) close() {
	s.end(fmt.Errorf("closed by the bridge"))
	_ = s.conn.CloseDeadline(time.Now().Add(5 * time.Second))
}

// watch ends the session when the connection or channel reports closing.
func (s *session) watch(what string, ch chan *amqp.Error) {
	go func() {
		select {
		case e, ok := <-ch:
			if ok && e != nil {
				s.end(fmt.Errorf("%s closed: %w", what, e))
			} else {
				s.end(fmt.Errorf("%s closed", what))
			}
		case <-s.closed:
		}
	}()
}

// connect dials the broker, declares the topology and opens the channels.
func (b *Bridge) connect(ctx context.Context) (*session, error) {
	// The URL's own settings (connection_timeout, heartbeat, TLS files)
	// apply: the Config sets none of them.
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{Properties: amqp.Table{"connection_name": "taskmill"}})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", RedactURL(b.cfg.URL), err)
	}
	s := &session{conn: conn, closed: make(chan struct{})}
	fail := func(err error) (*session, error) {
		s.close()
		return nil, err
	}
	s.watch("connection", conn.NotifyClose(make(chan *amqp.Error, 1)))
	if s.pub, err = conn.Channel(); err != nil {
		return fail(fmt.Errorf("open channel: %w", err))
	}
	s.watch("publish channel", s.pub.NotifyClose(make(chan *amqp.Error, 1)))
	if err := s.pub.Confirm(false); err != nil {
		return fail(fmt.Errorf("publisher confirms: %w", err))
	}
	if err := b.declare(s.pub); err != nil {
		return fail(err)
	}
	if s.consume, err = conn.Channel(); err != nil {
		return fail(fmt.Errorf("open channel: %w", err))
	}
	s.watch("consume channel", s.consume.NotifyClose(make(chan *amqp.Error, 1)))
	if err := s.consume.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("set prefetch %d: %w", b.cfg.Prefetch, err))
	}
	return s, nil
}

// declare makes the exchanges and queues the bridge uses. Declaring is
// idempotent, but only with the same arguments: a queue that exists with
// other ones (say, classic where quorum is asked) is a channel error that
// names the difference, and the bridge keeps retrying until it is fixed.
func (b *Bridge) declare(ch *amqp.Channel) error {
	dlx, dlq := b.cfg.DeadLetterExchange, b.cfg.DeadLetterExchange+".dead"
	if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare dead-letter exchange %q: %w", dlx, err)
	}
	if _, err := ch.QueueDeclare(dlq, true, false, false, false, b.queueArgs(false)); err != nil {
		return fmt.Errorf("declare dead-letter queue %q: %w", dlq, err)
	}
	if err := ch.QueueBind(dlq, "", dlx, false, nil); err != nil {
		return fmt.Errorf("bind %q to %q: %w", dlq, dlx, err)
	}
	if _, err := ch.QueueDeclare(b.cfg.Queue, true, false, false, false, b.queueArgs(true)); err != nil {
		return fmt.Errorf("declare queue %q: %w", b.cfg.Queue, err)
	}
	if b.cfg.EventsExchange != "" {
		if err := ch.ExchangeDeclare(b.cfg.EventsExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare events exchange %q: %w", b.cfg.EventsExchange, err)
		}
	}
	return nil
}

// queueArgs are the arguments of the submit queue (withDLX) and of the
// dead-letter queue. The submit queue's own dead-letter exchange takes
// what the broker drops by policy (a delivery-limit or a TTL an operator
// sets); the bridge itself publishes refused messages there with their
// error headers.
func (b *Bridge) queueArgs(withDLX bool) amqp.Table {
	args := amqp.Table{}
	if !b.cfg.ClassicQueue {
		args["x-queue-type"] = "quorum"
	}
	if withDLX {
		args["x-dead-letter-exchange"] = b.cfg.DeadLetterExchange
	}
	return args
}
