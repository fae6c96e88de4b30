package amqpbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/server"
)

// Bridge moves tasks between an AMQP broker and a taskmill backend. Create
// it with New, run it with Run; it is a server.LinkReporter.
type Bridge struct {
	cfg     Config
	log     *slog.Logger
	m       *bridgeMetrics
	replies *replyRegistry
	outbox  *outbox
	// failStreak counts submits in a row that failed for a reason other
	// than the message, to back off before handing each back.
	failStreak atomic.Int64

	mu      sync.Mutex
	status  server.LinkStatus
	sess    *session
	sessNew chan struct{} // closed (and replaced) whenever sess changes
}

var _ server.LinkReporter = (*Bridge)(nil)

// New checks cfg and returns a Bridge that is not connected yet.
func New(cfg Config) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger.With("link", "amqp"), replies: newReplyRegistry(), outbox: newOutbox(),
		sessNew: make(chan struct{})}
	b.m = newBridgeMetrics(func() float64 { return float64(b.replies.len() + b.outbox.len()) })
	if cfg.Metrics != nil {
		if err := b.m.register(cfg.Metrics); err != nil {
			return nil, fmt.Errorf("amqp bridge: register metrics: %w", err)
		}
	}
	b.setState(server.LinkConnecting, "not connected yet")
	return b, nil
}

// LinkStatus reports the link's state for /readyz, the metrics and the
// dashboard. Its detail never holds the password of the URL.
func (b *Bridge) LinkStatus() server.LinkStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *Bridge) setState(state, detail string) {
	b.mu.Lock()
	if b.status.State != state {
		b.status.Since = time.Now().UTC()
	}
	b.status = server.LinkStatus{Name: "amqp", State: state, Detail: detail, Since: b.status.Since, Required: b.cfg.Required}
	b.mu.Unlock()
	b.m.setLink(state)
}

// Run connects to the broker and moves messages until ctx ends; it
// reconnects after every connection loss or channel error, waiting from
// ReconnectMin up to ReconnectMax between attempts. It returns nil once
// ctx has ended and every goroutine it started has stopped.
func (b *Bridge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if !b.cfg.NoReplies || b.cfg.EventsExchange != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.watchTasks(ctx)
		}()
	}
	if !b.cfg.NoReplies {
		for range replySenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.sendReplies(ctx)
			}()
		}
	}
	for failures := 0; ctx.Err() == nil; {
		s, err := b.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait := b.reconnectWait(failures)
			b.log.Warn("amqp connect failed", "err", err, "retry_in", wait)
			b.setState(server.LinkDown, fmt.Sprintf("%v (retrying in %s)", err, wait.Round(time.Millisecond)))
			sleep(ctx, wait)
			continue
		}
		b.m.reconnects.Inc()
		b.setSession(s)
		b.setState(server.LinkUp, "consuming "+b.cfg.Queue)
		b.log.Info("amqp link up", "url", RedactURL(b.cfg.URL), "queue", b.cfg.Queue)
		began := time.Now()
		err = b.consume(ctx, s)
		b.setSession(nil)
		s.close()
		if ctx.Err() != nil {
			break
		}
		// A session that ended soon after it began (the consume refused,
		// a channel error at once) counts as a failed attempt, so that
		// the waits grow; after a healthy one they start again.
		if time.Since(began) < healthySession {
			failures++
		} else {
			failures = 1
		}
		wait := b.reconnectWait(failures)
		b.log.Warn("amqp link lost; reconnecting", "err", err, "retry_in", wait)
		b.setState(server.LinkConnecting, fmt.Sprintf("reconnecting after: %v", err))
		sleep(ctx, wait)
	}
	b.setState(server.LinkDown, "stopped")
	wg.Wait()
	return nil
}

// healthySession is how long a session must last for the reconnect
// backoff to start over.
const healthySession = 10 * time.Second

// replySenders is the number of goroutines publishing replies: each waits
// for its broker confirm before taking the next reply.
const replySenders = 4

// reconnectWait is ReconnectMin·2^(n-1), capped at ReconnectMax, with
// jitter in its upper half so that many bridges do not reconnect in step.
func (b *Bridge) reconnectWait(n int) time.Duration {
	d := b.cfg.ReconnectMin
	for i := 1; i < n && d < b.cfg.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.ReconnectMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (b *Bridge) setSession(s *session) {
	b.mu.Lock()
	b.sess = s
	close(b.sessNew)
	b.sessNew = make(chan struct{})
	b.mu.Unlock()
}

// currentSession returns the live session, waiting for one while the
// link is down; nil when ctx ends first.
func (b *Bridge) currentSession(ctx context.Context) *session {
	for {
		b.mu.Lock()
		s, changed := b.sess, b.sessNew
		b.mu.Unlock()
		if s != nil && !s.isClosed() {
			return s
		}
		// A closed session stays current until Run has drained it; wait
		// for the next one rather than spin on it.
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// errLinkDown: a publish found no live connection.
var errLinkDown = errors.New("amqp link is down")

// publish sends msg and waits for the broker's confirm: a nil error means
// the broker took responsibility for the message.
func (b *Bridge) publish(ctx context.Context, s *session, exchange, key string, msg amqp.Publishing) error {
	if s == nil || s.isClosed() {
		return errLinkDown
	}
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	if err != nil {
		return fmt.Errorf("publish to %q: %w", exchange, err)
	}
	select {
	case <-dc.Done():
	case <-s.closed:
		return fmt.Errorf("publish to %q: connection closed before the confirm: %w", exchange, errLinkDown)
	case <-ctx.Done():
		return ctx.Err()
	}
	if !dc.Acked() {
		return fmt.Errorf("publish to %q: the broker refused (nack) the message", exchange)
	}
	return nil
}
