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
	descQueueRecent = prometheus.NewDesc("taskmill_queue_attempts_recent",
		"Attempts of the queue that finished in the current minute and the 4 before it, by outcome (completed; failed, retried or not), "+
			"from the backend's history: cluster-wide, whichever process ran them, and the same on every server (aggregate with max, not sum).",
		[]string{"queue", "outcome"}, nil)
	descUp = prometheus.NewDesc("taskmill_backend_up",
		"1 when the backend answered this scrape.", nil, nil)
)

// RecentMinutes is the window of taskmill_queue_attempts_recent: the
// current minute of the backend's history and the ones before it.
const RecentMinutes = 5

// backendCollector reads the shared store at scrape time, so the gauges
// are right whichever process changed the state.
type backendCollector struct {
	b       backend.Backend
	timeout time.Duration
}

func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueTasks, descQueueOldest, descQueuePaused, descQueueRecent, descWorkers, descSlots, descUp} {
		ch <- d
	}
}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	qs, qerr := c.b.Queues(ctx)
	ws, werr := c.b.Workers(ctx)
	now := time.Now()
	since := now.Truncate(time.Minute).Add(-(RecentMinutes - 1) * time.Minute)
	var herr error
	if qerr == nil {
		for _, q := range qs {
			// One read per queue keeps the split by queue; it is one
			// range read of the queue's per-minute history.
			buckets, err := c.b.History(ctx, q.Name, since)
			if err != nil {
				herr = err
				break
			}
			completed, failed := 0, 0
			for _, h := range buckets {
				completed += h.Completed
				failed += h.Failed
			}
			ch <- prometheus.MustNewConstMetric(descQueueRecent, prometheus.GaugeValue, float64(completed), q.Name, "completed")
			ch <- prometheus.MustNewConstMetric(descQueueRecent, prometheus.GaugeValue, float64(failed), q.Name, "failed")
		}
	}
	up := 1.0
	if qerr != nil || werr != nil || herr != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
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
