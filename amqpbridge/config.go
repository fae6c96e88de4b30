package amqpbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill"
)

// Defaults of Config.
const (
	DefaultQueue          = "taskmill.submit"
	DefaultPrefetch       = 64
	DefaultReconnectMin   = 250 * time.Millisecond
	DefaultReconnectMax   = 15 * time.Second
	DefaultMaxMessageSize = taskmill.DefaultMaxPayload + 64<<10
)

// Config configures a Bridge. URL and Client are required; every other
// field has the default its comment names.
type Config struct {
	// URL is the broker's address, amqp://user:password@host:port/vhost or
	// amqps:// for TLS (the system's roots verify the server). Required.
	// The password never appears in logs or in the link status.
	URL string
	// Client stores the submitted tasks; its validation (type registry,
	// payload size) applies to AMQP submits as to HTTP ones. Required.
	Client *taskmill.Client
	// Queue is the durable queue submits are consumed from. Default
	// "taskmill.submit".
	Queue string
	// ClassicQueue declares Queue as a classic queue instead of a quorum
	// queue. Default false (quorum: replicated, and every message it
	// confirmed to a publisher is on disk).
	ClassicQueue bool
	// DeadLetterExchange receives the messages that failed validation, with
	// the error in their headers. A fanout exchange of that name is declared
	// with a durable queue of the same name plus ".dead" bound to it (so no
	// rejected message is lost when no one listens). Default Queue + ".dlx".
	DeadLetterExchange string
	// Prefetch bounds the messages in flight (delivered, not yet
	// acknowledged) and so the submits running at once. Default 64.
	Prefetch int
	// MaxMessageSize refuses bodies larger than this many bytes, as
	// --max-body does for HTTP. Default 1 MiB + 64 KiB.
	MaxMessageSize int
	// EventsExchange, when set, is a durable topic exchange to which every
	// task transition is published (routing key task.<state>.<type>, body
	// the /api/events task_update event). Default "" (no events).
	EventsExchange string
	// NoReplies turns off answering messages that carry reply_to. Default
	// false: replies are sent.
	NoReplies bool
	// Required makes /readyz answer 503 while the link is not up. Default
	// false: the HTTP API stays ready when only the broker is away.
	Required bool
	// ReconnectMin and ReconnectMax bound the wait between connection
	// attempts, which doubles from the first to the second. Defaults 250ms
	// and 15s.
	ReconnectMin, ReconnectMax time.Duration
	// Metrics, when set, receives the bridge's collectors. Default none.
	Metrics prometheus.Registerer
	// Submitted, when set, is told of every task a message stored (not of
	// redeliveries), as the HTTP API counts its submits in
	// taskmill_tasks_submitted_total. Default none.
	Submitted func(typ, queue string)
	// Logger receives the bridge's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Queue == "" {
		c.Queue = DefaultQueue
	}
	if c.DeadLetterExchange == "" {
		c.DeadLetterExchange = c.Queue + ".dlx"
	}
	if c.Prefetch <= 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(DefaultReconnectMax, c.ReconnectMin)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.Client == nil {
		return errors.New("amqp bridge: Client is required")
	}
	if _, err := amqp.ParseURI(c.URL); err != nil {
		return fmt.Errorf("amqp bridge: URL %s: %w", RedactURL(c.URL), err)
	}
	for _, n := range []struct{ field, name string }{{"queue", c.Queue}, {"dead-letter exchange", c.DeadLetterExchange}, {"events exchange", c.EventsExchange}} {
		if len(n.name) > 255 {
			return fmt.Errorf("amqp bridge: %s name is %d bytes; AMQP allows 255", n.field, len(n.name))
		}
	}
	if c.Prefetch > 65535 {
		return fmt.Errorf("amqp bridge: prefetch must be at most 65535, got %d", c.Prefetch)
	}
	return nil
}

// RedactURL returns rawURL with its password replaced by "xxxxx", for
// logs and errors. A URL that does not parse is not shown at all.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an AMQP URL that does not parse)"
	}
	return u.Redacted()
}
