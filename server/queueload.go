package server

import (
	"net/http"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// GET /api/queues/{name}/load: what an autoscaler reads. It differs from
// GET /api/queues/{name} in two ways that matter to one: a queue without
// tasks answers zeros rather than 404 (retention may empty a queue, and
// a scaler that errors keeps its last replica count or fails over to
// its fallback), and it reads only the queue counts, not the history.
func (s *Server) getQueueLoad(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := taskmill.ValidateName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	qs, err := s.client.Queues(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	load := apiclient.QueueLoad{Name: name}
	for _, q := range qs {
		if q.Name == name {
			load = queueLoad(q)
			break
		}
	}
	writeJSON(w, http.StatusOK, load)
}

// queueLoad counts the slots a queue could use now: its running tasks,
// and its pending ones unless it is paused (no worker may take those).
func queueLoad(q backend.QueueInfo) apiclient.QueueLoad {
	l := apiclient.QueueLoad{Name: q.Name, Paused: q.Paused,
		Pending: q.Counts[backend.StatePending], Processing: q.Counts[backend.StateProcessing]}
	l.Active = l.Processing
	if !q.Paused {
		l.Active += l.Pending
	}
	return l
}
