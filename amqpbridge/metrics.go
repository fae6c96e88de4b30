package amqpbridge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/taskmill/taskmill/server"
)

// bridgeMetrics are the bridge's Prometheus collectors. They are always
// built (counting costs next to nothing) and registered only when
// Config.Metrics is set.
type bridgeMetrics struct {
	link       *prometheus.GaugeVec
	messages   *prometheus.CounterVec
	replies    *prometheus.CounterVec
	events     *prometheus.CounterVec
	reconnects prometheus.Counter
	pending    prometheus.GaugeFunc
}

// Outcomes of a consumed submit message, the "outcome" label of
// taskmill_amqp_messages_total.
const (
	outcomeStored       = "stored"        // a new task
	outcomeDuplicate    = "duplicate_id"  // its id was already stored: a redelivery
	outcomeDeadLettered = "dead_lettered" // refused, published to the dead-letter exchange
	outcomeRequeued     = "requeued"      // the backend failed; handed back to the broker
)

func newBridgeMetrics(pendingReplies func() float64) *bridgeMetrics {
	return &bridgeMetrics{
		link: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "taskmill_amqp_link_state",
			Help: "1 for the AMQP link's current state (up, connecting or down), 0 for the others."}, []string{"state"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_amqp_messages_total",
			Help: "Submit messages consumed, per outcome (stored, duplicate_id, dead_lettered, requeued)."}, []string{"outcome"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_amqp_replies_total",
			Help: "Replies to reply_to queues, per result (sent: confirmed by the broker; failed: to be retried)."}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskmill_amqp_events_total",
			Help: "Task transitions for the events exchange, per result (published: confirmed; dropped: lost while the link was down or nacked)."}, []string{"result"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskmill_amqp_connects_total",
			Help: "Connections made to the broker (the first one and every reconnect)."}),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "taskmill_amqp_pending_replies",
			Help: "Tasks this process will reply to when they finish."}, pendingReplies),
	}
}

func (m *bridgeMetrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.link, m.messages, m.replies, m.events, m.reconnects, m.pending} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *bridgeMetrics) setLink(state string) {
	for _, s := range []string{server.LinkUp, server.LinkConnecting, server.LinkDown} {
		v := 0.0
		if s == state {
			v = 1
		}
		m.link.WithLabelValues(s).Set(v)
	}
}
