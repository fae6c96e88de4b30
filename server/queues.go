package server

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// GET /api/queues: every queue with its counts and recent statistics.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.queueViews(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiclient.QueueList{Queues: views})
}

// GET /api/queues/{name}
func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := taskmill.ValidateName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.queueViews(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, v := range views {
		if v.Name == name {
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no queue named " + name + " (a queue exists once a task was submitted to it or it was paused)"})
}

// queueViews reads the queues and adds each one's statistics over the
// stats window: one History read for all queues would lose the split, so
// it is one per queue, each a short range read.
func (s *Server) queueViews(ctx context.Context) ([]apiclient.QueueView, error) {
	qs, err := s.client.Queues(ctx)
	if err != nil {
		return nil, err
	}
	workers, err := s.client.Workers(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	since := now.Add(-s.cfg.StatsWindow)
	views := make([]apiclient.QueueView, 0, len(qs))
	for _, q := range qs {
		buckets, err := s.client.History(ctx, q.Name, since)
		if err != nil {
			return nil, err
		}
		v := apiclient.QueueView{Name: q.Name, Paused: q.Paused, Counts: q.Counts, OldestPendingAt: q.OldestPendingAt}
		if v.Counts == nil {
			v.Counts = map[backend.State]int{}
		}
		for st, n := range v.Counts {
			if !st.Final() {
				v.Size += n
			}
		}
		v.LatencyMS = latencyMS(q.OldestPendingAt, now)
		v.Completed, v.Failed = sumBuckets(buckets)
		v.WindowMinutes = int(s.cfg.StatsWindow / time.Minute)
		v.ThroughputPerMin, v.FailureRate = rates(v.Completed, v.Failed, v.WindowMinutes)
		if v.Served, v.UnservedTypes, err = s.unserved(ctx, q.Name, q.Counts[backend.StatePending], workers); err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// maxUnservedScan bounds the pending tasks read to find a queue's
// unserved types.
const maxUnservedScan = 1000

// unserved says whether a live worker takes from the queue, and which
// types of its pending tasks no such worker runs. A worker that lists no
// types runs every type, and then nothing is read; otherwise one page of
// the queue's pending tasks is.
func (s *Server) unserved(ctx context.Context, queue string, pending int, workers []backend.WorkerInfo) (bool, []string, error) {
	served := false
	runs := map[string]bool{}
	for _, w := range workers {
		if !slices.Contains(w.Queues, queue) {
			continue
		}
		served = true
		if len(w.Types) == 0 {
			return true, []string{}, nil
		}
		for _, t := range w.Types {
			runs[t] = true
		}
	}
	out := []string{}
	if pending == 0 {
		return served, out, nil
	}
	page, err := s.client.List(ctx, backend.Filter{Queue: queue, State: backend.StatePending, Limit: maxUnservedScan})
	if err != nil {
		return false, nil, err
	}
	for _, t := range page.Tasks {
		if !runs[t.Type] {
			runs[t.Type] = true // listed once
			out = append(out, t.Type)
		}
	}
	slices.Sort(out)
	return served, out, nil
}

// DELETE /api/queues/{name}: forget a queue that holds no tasks.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := taskmill.ValidateName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.client.Backend().DeleteQueue(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func latencyMS(oldest, now time.Time) int64 {
	if oldest.IsZero() || oldest.After(now) {
		return 0
	}
	return now.Sub(oldest).Milliseconds()
}

func sumBuckets(buckets []backend.HistoryBucket) (completed, failed int) {
	for _, b := range buckets {
		completed += b.Completed
		failed += b.Failed
	}
	return completed, failed
}

// rates returns attempts finished per minute and the share that failed.
func rates(completed, failed, minutes int) (perMin, failureRate float64) {
	if minutes > 0 {
		perMin = float64(completed+failed) / float64(minutes)
	}
	if completed+failed > 0 {
		failureRate = float64(failed) / float64(completed+failed)
	}
	return perMin, failureRate
}

// POST /api/queues/{name}/pause
func (s *Server) pauseQueue(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, true) }

// POST /api/queues/{name}/resume
func (s *Server) resumeQueue(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	name := r.PathValue("name")
	if err := taskmill.ValidateName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	var err error
	if paused {
		err = s.client.PauseQueue(r.Context(), name)
	} else {
		err = s.client.ResumeQueue(r.Context(), name)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiclient.QueueActionReply{Name: name, Paused: paused})
}

// GET /api/history?queue=&minutes=&step=: finished attempts over time.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "queue", "minutes", "step"); err != nil {
		s.fail(w, r, err)
		return
	}
	queue, err := optionalName(r, "queue")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	minutes, err := queryInt(r, "minutes", 60, 1, 7*24*60)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	step, err := queryInt(r, "step", 0, 1, 24*60)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if step > 0 && minutes/step > 2000 {
		s.fail(w, r, taskmill.Invalid("step", "range", "%d minutes in steps of %d make more than 2000 buckets; use a step of at least %d", minutes, step, (minutes+1999)/2000))
		return
	}
	now := time.Now().UTC()
	since := now.Add(-time.Duration(minutes) * time.Minute)
	buckets, err := s.client.History(r.Context(), queue, since)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if buckets == nil {
		buckets = []backend.HistoryBucket{}
	}
	if step > 0 {
		buckets = fillBuckets(buckets, since, now, time.Duration(step)*time.Minute)
	}
	writeJSON(w, http.StatusOK, apiclient.HistoryView{Buckets: buckets, StepMinutes: step})
}

// fillBuckets regroups per-minute buckets into buckets of width step,
// aligned to multiples of step since the Unix epoch, with every bucket
// from since to now present so a chart needs no gap handling.
func fillBuckets(in []backend.HistoryBucket, since, now time.Time, step time.Duration) []backend.HistoryBucket {
	first := since.Truncate(step)
	n := int(now.Truncate(step).Sub(first)/step) + 1
	out := make([]backend.HistoryBucket, n)
	for i := range out {
		out[i].Minute = first.Add(time.Duration(i) * step)
	}
	for _, b := range in {
		i := int(b.Minute.Truncate(step).Sub(first) / step)
		if i >= 0 && i < n {
			out[i].Completed += b.Completed
			out[i].Failed += b.Failed
		}
	}
	return out
}

// GET /api/task-types: the registered types with their payload schemas,
// and the types live workers advertise.
func (s *Server) listTaskTypes(w http.ResponseWriter, r *http.Request) {
	out := []apiclient.TaskTypeView{}
	seen := map[string]bool{}
	if s.cfg.Types != nil {
		for _, tt := range s.cfg.Types.Types() {
			v := apiclient.TaskTypeView{Name: tt.Name, Description: tt.Description, MaxAttempts: tt.MaxAttempts, Timeout: backend.Duration(tt.Timeout)}
			if len(tt.Schema) > 0 {
				v.Schema = tt.Schema
			}
			out = append(out, v)
			seen[tt.Name] = true
		}
	}
	for _, name := range s.client.KnownTypes(r.Context()) {
		if !seen[name] {
			out = append(out, apiclient.TaskTypeView{Name: name})
		}
	}
	writeJSON(w, http.StatusOK, apiclient.TaskTypeList{TaskTypes: out})
}

// GET /api/stats: totals, throughput, workers and health in one answer.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	qs, err := s.client.Queues(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	workers, err := s.client.Workers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now().UTC()
	buckets, err := s.client.History(ctx, "", now.Add(-s.cfg.StatsWindow))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := apiclient.StatsView{Counts: map[backend.State]int{}, Queues: len(qs), Workers: len(workers),
		WindowMinutes: int(s.cfg.StatsWindow / time.Minute), Backend: s.cfg.BackendName, StartedAt: s.started,
		UptimeSeconds: int64(now.Sub(s.started).Seconds()), Health: "ok"}
	for _, st := range backend.States {
		v.Counts[st] = 0
	}
	for _, q := range qs {
		if q.Paused {
			v.PausedQueues++
		}
		for st, n := range q.Counts {
			v.Counts[st] += n
			v.Total += n
		}
		if !q.OldestPendingAt.IsZero() && (v.OldestPendingAt.IsZero() || q.OldestPendingAt.Before(v.OldestPendingAt)) {
			v.OldestPendingAt = q.OldestPendingAt
		}
	}
	for _, wk := range workers {
		v.WorkerSlots += wk.Concurrency
		v.BusySlots += len(wk.Running)
	}
	v.LatencyMS = latencyMS(v.OldestPendingAt, now)
	v.Completed, v.Failed = sumBuckets(buckets)
	v.ThroughputPerMin, v.FailureRate = rates(v.Completed, v.Failed, v.WindowMinutes)
	// Work is waiting and nobody is there to take it: worth a look.
	if v.Counts[backend.StatePending] > 0 && len(workers) == 0 {
		v.Health = "degraded"
	}
	writeJSON(w, http.StatusOK, v)
}
