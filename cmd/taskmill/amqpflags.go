package main

import (
	"context"
	"flag"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/server"
)

// amqpFlags are the flags of the AMQP bridge, shared by serve and the
// amqp command. An empty --amqp turns the bridge off.
type amqpFlags struct {
	url, queue, deadLetter, events string
	classic, noReplies, required   bool
	prefetch                       int
}

func amqpFlagSet(fs *flag.FlagSet) *amqpFlags {
	a := &amqpFlags{}
	fs.StringVar(&a.url, "amqp", envString("TASKMILL_AMQP", ""), "AMQP broker to take submits from and send replies to, amqp://user:pass@host:5672/vhost or amqps:// for TLS; empty: off (env TASKMILL_AMQP)")
	fs.StringVar(&a.queue, "amqp-queue", envString("TASKMILL_AMQP_QUEUE", amqpbridge.DefaultQueue), "durable queue of submit messages (env TASKMILL_AMQP_QUEUE)")
	fs.BoolVar(&a.classic, "amqp-classic-queue", envBool("TASKMILL_AMQP_CLASSIC_QUEUE", false), "declare the submit queue as a classic queue, not a quorum queue (env TASKMILL_AMQP_CLASSIC_QUEUE=1)")
	fs.StringVar(&a.deadLetter, "amqp-dead-letter", envString("TASKMILL_AMQP_DEAD_LETTER", ""), "exchange for refused messages; default QUEUE.dlx (env TASKMILL_AMQP_DEAD_LETTER)")
	fs.IntVar(&a.prefetch, "amqp-prefetch", envInt("TASKMILL_AMQP_PREFETCH", amqpbridge.DefaultPrefetch), "submit messages in flight at once (env TASKMILL_AMQP_PREFETCH)")
	fs.StringVar(&a.events, "amqp-events", envString("TASKMILL_AMQP_EVENTS", ""), "topic exchange to publish every task transition to (key task.STATE.TYPE); empty: off (env TASKMILL_AMQP_EVENTS)")
	fs.BoolVar(&a.noReplies, "amqp-no-replies", envBool("TASKMILL_AMQP_NO_REPLIES", false), "do not answer messages that carry reply_to (env TASKMILL_AMQP_NO_REPLIES=1)")
	fs.BoolVar(&a.required, "amqp-required", envBool("TASKMILL_AMQP_REQUIRED", false), "make /readyz answer 503 while the AMQP link is not up (env TASKMILL_AMQP_REQUIRED=1)")
	return a
}

// check refuses bad values before anything is opened.
func (a *amqpFlags) check() error {
	if a.prefetch < 1 || a.prefetch > 65535 {
		return usagef("--amqp-prefetch must be between 1 and 65535, got %d", a.prefetch)
	}
	if a.url != "" {
		if _, err := amqp.ParseURI(a.url); err != nil {
			return usagef("--amqp %s: %v", amqpbridge.RedactURL(a.url), err)
		}
	}
	return nil
}

// runningBridge is a started bridge; stop ends it and waits (idempotent).
type runningBridge struct {
	bridge *amqpbridge.Bridge
	stop   func()
}

// links returns the bridge as the server's links (none when off).
func (r *runningBridge) links() []server.LinkReporter {
	if r == nil || r.bridge == nil {
		return nil
	}
	return []server.LinkReporter{r.bridge}
}

// start runs the bridge in the background when --amqp is set.
// submitted, when set, counts each stored task as the HTTP API does.
func (a *amqpFlags) start(ctx context.Context, client *taskmill.Client, maxBody int, reg prometheus.Registerer, submitted func(typ, queue string), log *slog.Logger) (*runningBridge, error) {
	if a.url == "" {
		return &runningBridge{stop: func() {}}, nil
	}
	b, err := amqpbridge.New(amqpbridge.Config{
		URL: a.url, Client: client, Queue: a.queue, ClassicQueue: a.classic, DeadLetterExchange: a.deadLetter,
		Prefetch: a.prefetch, MaxMessageSize: maxBody, EventsExchange: a.events, NoReplies: a.noReplies,
		Required: a.required, Metrics: reg, Submitted: submitted, Logger: log,
	})
	if err != nil {
		return nil, usagef("--amqp: %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	var once sync.Once
	return &runningBridge{bridge: b, stop: func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}}, nil
}
