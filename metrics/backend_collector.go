package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/taskmill/taskmill/backend"
)

var (
	descQueueTasks = prometheus.NewDesc("taskmill_queue_tasks",
		"Tasks per queue and state (the queue depth is pending + scheduled + retrying).", []string{"queue", "state"}, nil)
	descQueueOldest = prometheus.NewDesc("taskmill_queue_oldest_pending_seconds",
		"How long the oldest pending task of the queue has waited; 0 when none waits.", []string{"queue"}, nil)
	descQueuePaused = prometheus.NewDesc("taskmill_queue_paused",
		"1 when the queue is paused.", []string{"queue"}, nil)
	descWorkers = prometheus.NewDesc("taskmill_workers_alive",
		"Workers whose heartbeat has not run out, in every process.", nil, nil)
	descSlots = prometheus.NewDesc("taskmill_worker_slots",
		"Worker slots of the live workers: all of them, and the busy ones.", []string{"state"}, nil)
	descUp = prometheus.NewDesc("taskmill_backend_up",
		"1 when the backend answered this scrape.", nil, nil)
)

// backendCollector reads the shared store at scrape time, so the gauges
// are right whichever process changed the state.
type backendCollector struct {
	b       backend.Backend
	timeout time.Duration
}

func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueTasks, descQueueOldest, descQueuePaused, descWorkers, descSlots, descUp} {
		ch <- d
	}
}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	qs, qerr := c.b.Queues(ctx)
	ws, werr := c.b.Workers(ctx)
	up := 1.0
	if qerr != nil || werr != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	now := time.Now()
	if qerr == nil {
		for _, q := range qs {
			for _, st := range backend.States {
				ch <- prometheus.MustNewConstMetric(descQueueTasks, prometheus.GaugeValue, float64(q.Counts[st]), q.Name, string(st))
			}
			wait := 0.0
			if !q.OldestPendingAt.IsZero() && q.OldestPendingAt.Before(now) {
				wait = now.Sub(q.OldestPendingAt).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(descQueueOldest, prometheus.GaugeValue, wait, q.Name)
			paused := 0.0
			if q.Paused {
				paused = 1
			}
			ch <- prometheus.MustNewConstMetric(descQueuePaused, prometheus.GaugeValue, paused, q.Name)
		}
	}
	if werr == nil {
		total, busy := 0, 0
		for _, w := range ws {
			total += w.Concurrency
			busy += len(w.Running)
		}
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(len(ws)))
		ch <- prometheus.MustNewConstMetric(descSlots, prometheus.GaugeValue, float64(total), "total")
		ch <- prometheus.MustNewConstMetric(descSlots, prometheus.GaugeValue, float64(busy), "busy")
	}
}
