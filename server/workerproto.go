package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// The HTTP worker protocol: a program in any language becomes a worker by
// calling these endpoints, with the same leases and fencing tokens as a Go
// worker. The token is the lessee's secret; the other endpoints never show it.

// Bounds of the worker protocol.
const (
	defaultWorkerTTL  = 15 * time.Second
	maxWorkerTTL      = 10 * time.Minute
	defaultLeaseFor   = 30 * time.Second
	maxLeaseFor       = time.Hour
	maxLeaseBatch     = 1000
	maxWorkerQueues   = 64
	maxWorkerTypes    = 256
	maxErrorMessage   = 64 << 10
	maxProgressLength = 1024
)

// checkQueuesAndTypes checks the queues and task types a heartbeat or a
// lease names.
func checkQueuesAndTypes(queues, types []string) error {
	if err := checkNames("queues", queues, maxWorkerQueues, true); err != nil {
		return err
	}
	return checkNames("types", types, maxWorkerTypes, false)
}

func checkNames(field string, names []string, limit int, required bool) error {
	if required && len(names) == 0 {
		return taskmill.Invalid(field, "required", "name at least one")
	}
	if len(names) > limit {
		return taskmill.Invalid(field, "size", "at most %d, got %d", limit, len(names))
	}
	for i, n := range names {
		if err := taskmill.ValidateName("", n); err != nil {
			return atIndex(err, field, i)
		}
	}
	return nil
}

// atIndex puts entry i of the list field in front of the field a
// validation error names: "" becomes "queues[2]", "token" becomes
// "leases[2].token". The path is built only for an error, never for the
// entries that pass.
func atIndex(err error, field string, i int) error {
	var ve *taskmill.ValidationError
	if errors.As(err, &ve) {
		path := field + "[" + itoa(i) + "]"
		if ve.Field != "" {
			path += "." + ve.Field
		}
		ve.Field = path
	}
	return err
}

func durationIn(field string, d backend.Duration, def, lo, hi time.Duration) (time.Duration, error) {
	if d == 0 {
		return def, nil
	}
	if d.Std() < lo || d.Std() > hi {
		return 0, taskmill.Invalid(field, "range", "must be between %s and %s, got %s", lo, hi, d.Std())
	}
	return d.Std(), nil
}

// POST /api/workers/{id}/heartbeat
func (s *Server) workerHeartbeat(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req apiclient.HeartbeatRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkQueuesAndTypes(req.Queues, req.Types); err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now().UTC()
	switch {
	case req.Concurrency < 1 || req.Concurrency > 10_000:
		err = taskmill.Invalid("concurrency", "range", "must be between 1 and 10000, got %d", req.Concurrency)
	case len(req.Running) > 10_000:
		err = taskmill.Invalid("running", "size", "at most 10000 ids")
	case len(req.Host) > 256:
		err = taskmill.Invalid("host", "length", "must be at most 256 characters")
	case !printableText(req.Host):
		err = taskmill.Invalid("host", "charset", "must be valid UTF-8 without control characters")
	case req.PID < 0:
		err = taskmill.Invalid("pid", "range", "must not be negative")
	case req.StartedAt.After(now.Add(maxClockSkew)):
		err = taskmill.Invalid("started_at", "range", "must not be in the future, got %s", req.StartedAt.Format(time.RFC3339))
	default:
		err = checkWorkerSecret(req.Secret)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ttl, err := durationIn("ttl", req.TTL, defaultWorkerTTL, time.Second, maxWorkerTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info := backend.WorkerInfo{ID: id, Host: req.Host, PID: req.PID, Queues: req.Queues, Types: req.Types,
		Concurrency: req.Concurrency, Running: req.Running, StartedAt: req.StartedAt.UTC(), Secret: req.Secret}
	if req.StartedAt.IsZero() {
		info.StartedAt = s.workerStartedAt(r.Context(), id, now)
	}
	if info.Running == nil {
		info.Running = []string{}
	}
	reply, err := s.client.Backend().Heartbeat(r.Context(), info, ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiclient.HeartbeatReply{StopRequested: reply.StopRequested})
}

// Bounds of a worker's registry secret.
const (
	minWorkerSecret = 16
	maxWorkerSecret = 128
)

// checkWorkerSecret checks the optional secret a worker binds its id with.
func checkWorkerSecret(secret string) error {
	if secret == "" {
		return nil
	}
	if len(secret) < minWorkerSecret || len(secret) > maxWorkerSecret {
		return taskmill.Invalid("secret", "length", "must be %d to %d characters, got %d", minWorkerSecret, maxWorkerSecret, len(secret))
	}
	for _, c := range []byte(secret) {
		if c <= ' ' || c >= 0x7f {
			return taskmill.Invalid("secret", "format", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// workerStartedAt is the start time of a worker whose heartbeat does not
// send started_at (the registry stores what each heartbeat sends, so the
// server has to send the same time each beat). The first heartbeat this
// server sees from the worker looks it up in the registry (the worker may
// have beaten against another server, or this one before a restart);
// later ones find it in memory.
func (s *Server) workerStartedAt(ctx context.Context, id string, now time.Time) time.Time {
	if t, ok := s.starts.get(id, now); ok {
		return t
	}
	started := now
	if ws, err := s.client.Workers(ctx); err == nil {
		for _, wi := range ws {
			if wi.ID == id && !wi.StartedAt.IsZero() {
				started = wi.StartedAt
				break
			}
		}
	}
	s.starts.put(id, started, now)
	return started
}

// maxClockSkew is how far in the future a worker's started_at may be.
const maxClockSkew = time.Minute

// maxRememberedStarts bounds the start times startTimes keeps.
const maxRememberedStarts = 10_000

// startTimes remembers the start times workerStartedAt found, with when
// each worker was last seen. When full it forgets the workers not seen
// for longer than the longest heartbeat ttl; a worker it cannot keep is
// looked up again at its next heartbeat.
type startTimes struct {
	mu   sync.Mutex
	seen map[string]startTime
}

type startTime struct{ started, last time.Time }

func (st *startTimes) get(id string, now time.Time) (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.seen[id]
	if ok {
		e.last = now
		st.seen[id] = e
	}
	return e.started, ok
}

func (st *startTimes) put(id string, started, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.seen == nil {
		st.seen = map[string]startTime{}
	}
	if len(st.seen) >= maxRememberedStarts {
		for k, e := range st.seen {
			if now.Sub(e.last) > maxWorkerTTL {
				delete(st.seen, k)
			}
		}
		if len(st.seen) >= maxRememberedStarts {
			return
		}
	}
	st.seen[id] = startTime{started: started, last: now}
}

func (st *startTimes) forget(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.seen, id)
}

// POST /api/workers/{id}/unregister
func (s *Server) workerUnregister(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req apiclient.UnregisterRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkWorkerSecret(req.Secret); err != nil {
		s.fail(w, r, err)
		return
	}
	// The backend refuses the secret of another live worker of this id.
	if err := s.client.Backend().Unregister(r.Context(), id, req.Secret); err != nil {
		s.fail(w, r, err)
		return
	}
	s.starts.forget(id)
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/workers/{id}/lease: long-polls for up to max tasks.
func (s *Server) workerLease(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req apiclient.LeaseRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkQueuesAndTypes(req.Queues, req.Types); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Max == 0 {
		req.Max = 1
	}
	if req.Max < 1 || req.Max > maxLeaseBatch {
		s.fail(w, r, taskmill.Invalid("max", "range", "must be between 1 and %d, got %d", maxLeaseBatch, req.Max))
		return
	}
	wait, err := durationIn("wait", req.Wait, 0, 0, s.cfg.MaxLeaseWait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	leaseFor, err := durationIn("lease_for", req.LeaseFor, defaultLeaseFor, time.Second, maxLeaseFor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The long poll ends when the client goes away or the server closes,
	// and a stalled backend holds it at most BackendTimeout past its wait.
	ctx, cancel := context.WithTimeout(r.Context(), wait+s.cfg.BackendTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	deadline := time.Now().Add(wait)
	out := apiclient.LeaseReply{Tasks: []apiclient.LeasedTask{}}
	for {
		// The backend leases only the declared types (none declared: all
		// of them); other tasks wait for a worker that can run them.
		tasks, err := s.client.Backend().Lease(ctx, backend.LeaseRequest{WorkerID: id, Queues: req.Queues,
			Types: req.Types, Max: req.Max, LeaseFor: leaseFor, Wait: time.Until(deadline)})
		if err != nil && ctx.Err() == nil {
			s.fail(w, r, err)
			return
		}
		if ctx.Err() != nil {
			// Nobody will receive these: hand them back uncounted.
			s.releaseAll(tasks)
			switch {
			case r.Context().Err() != nil: // the client left
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				s.fail(w, r, ctx.Err())
			default:
				s.fail(w, r, errShuttingDown)
			}
			return
		}
		for _, t := range tasks {
			// The outer lease_token hides the task's own in the JSON, so
			// the task needs no copy without it; the secret is not shown
			// apart from it.
			cred := leaseCredential(t)
			t.LeaseSecret = ""
			out.Tasks = append(out.Tasks, apiclient.LeasedTask{Task: t, LeaseToken: cred})
		}
		if len(out.Tasks) > 0 || len(tasks) == 0 || !time.Now().Before(deadline) {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) releaseAll(tasks []*backend.Task) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range tasks {
		if err := s.client.Backend().Release(ctx, t.Ref()); err != nil && !errors.Is(err, backend.ErrLeaseLost) {
			s.log.Warn("hand back a task leased for a client that went away", "task", t.ID, "err", err)
		}
	}
}

// leaseCredential is the lease_token an HTTP worker gets: the fencing
// counter and the lease's secret, "<token>.<secret>". The counter alone
// can be guessed (another worker's plus one); the secret cannot, and the
// backend checks both.
func leaseCredential(t *backend.Task) string {
	return strconv.FormatUint(t.LeaseToken, 10) + "." + t.LeaseSecret
}

// parseToken reads a lease_token made by leaseCredential.
func parseToken(field, cred string) (uint64, string, error) {
	if cred == "" {
		return 0, "", taskmill.Invalid(field, "required", "send the lease_token the lease gave you")
	}
	// A credential without a secret part is passed on as such: the
	// backend, which made the secret, refuses it.
	tok, secret, _ := strings.Cut(cred, ".")
	n, err := strconv.ParseUint(tok, 10, 64)
	if err != nil || n == 0 || len(secret) > 128 {
		return 0, "", taskmill.Invalid(field, "type", "must be the lease_token string the lease gave you, unchanged")
	}
	return n, secret, nil
}

// POST /api/workers/{id}/extend
func (s *Server) workerExtend(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req apiclient.ExtendRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Leases) == 0 || len(req.Leases) > maxLeaseBatch {
		s.fail(w, r, taskmill.Invalid("leases", "size", "send 1 to %d leases, got %d", maxLeaseBatch, len(req.Leases)))
		return
	}
	refs := make([]backend.LeaseRef, len(req.Leases))
	for i, l := range req.Leases {
		if err := taskmill.ValidateName("task_id", l.TaskID); err != nil {
			s.fail(w, r, atIndex(err, "leases", i))
			return
		}
		tok, secret, err := parseToken("token", l.Token)
		if err != nil {
			s.fail(w, r, atIndex(err, "leases", i))
			return
		}
		refs[i] = backend.LeaseRef{TaskID: l.TaskID, Token: tok, Secret: secret}
	}
	leaseFor, err := durationIn("lease_for", req.LeaseFor, defaultLeaseFor, time.Second, maxLeaseFor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	results, err := s.client.Backend().Extend(r.Context(), id, refs, leaseFor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := apiclient.ExtendReply{Leases: make([]apiclient.ExtendResult, len(results))}
	for i, res := range results {
		out.Leases[i] = apiclient.ExtendResult{TaskID: res.TaskID, Held: res.Held, Canceled: res.Canceled}
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeLease decodes the body of an ack, fail, progress or release into
// req, runs check (when not nil) on it, and returns the lease the request
// names: the {id} path value and *token, a field of req.
func (s *Server) decodeLease(w http.ResponseWriter, r *http.Request, req any, token *string, check func() error) (backend.LeaseRef, error) {
	if err := s.decodeBody(w, r, req, false); err != nil {
		return backend.LeaseRef{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return backend.LeaseRef{}, err
		}
	}
	id, err := pathID(r)
	if err != nil {
		return backend.LeaseRef{}, err
	}
	tok, secret, err := parseToken("token", *token)
	if err != nil {
		return backend.LeaseRef{}, err
	}
	return backend.LeaseRef{TaskID: id, Token: tok, Secret: secret}, nil
}

// checkWorkerID checks the optional worker_id of an ack or fail.
func checkWorkerID(id string) error {
	if id == "" {
		return nil
	}
	return taskmill.ValidateName("worker_id", id)
}

// leasedTask reads the task of a lease before it is finished, for what
// does not change while the lease is held: type, queue, attempt, deadline,
// trace. A task that is gone is a lost lease.
// When workerID is not empty it must be the lease's holder: a worker
// cannot finish a lease another worker holds, even with its credential.
func (s *Server) leasedTask(ctx context.Context, ref backend.LeaseRef, workerID string) (*backend.Task, error) {
	t, err := s.client.Get(ctx, ref.TaskID)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, backend.ErrLeaseLost
	}
	if err == nil && workerID != "" && (t.WorkerID != workerID || t.LeaseToken != ref.Token) {
		return nil, backend.ErrLeaseLost
	}
	return t, err
}

// POST /api/tasks/{id}/ack
func (s *Server) ackTask(w http.ResponseWriter, r *http.Request) {
	var req apiclient.AckRequest
	ref, err := s.decodeLease(w, r, &req, &req.Token, func() error { return checkWorkerID(req.WorkerID) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Only metrics and tracing need the task; without them an ack is one
	// backend call (a task that is gone makes Ack answer ErrLeaseLost).
	var t *backend.Task
	if s.cfg.Metrics != nil || s.tracer != nil || req.WorkerID != "" {
		if t, err = s.leasedTask(r.Context(), ref, req.WorkerID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	result := req.Result
	if string(result) == "null" {
		result = nil
	}
	if _, err := taskmill.FinishAttempt(r.Context(), s.client.Backend(), ref, t, taskmill.AttemptReport{Result: result}); err != nil {
		s.fail(w, r, err)
		return
	}
	if t != nil {
		s.attemptDone(r.Context(), t, taskmill.OutcomeCompleted, nil)
	}
	writeJSON(w, http.StatusOK, apiclient.AttemptOutcome{ID: ref.TaskID, State: backend.StateCompleted})
}

// POST /api/tasks/{id}/fail
func (s *Server) failTask(w http.ResponseWriter, r *http.Request) {
	var req apiclient.FailRequest
	ref, err := s.decodeLease(w, r, &req, &req.Token, func() error {
		switch {
		case checkWorkerID(req.WorkerID) != nil:
			return checkWorkerID(req.WorkerID)
		case req.Error == "":
			return taskmill.Invalid("error", "required", "say what went wrong")
		case len(req.Error) > maxErrorMessage:
			return taskmill.Invalid("error", "length", "must be at most %d bytes", maxErrorMessage)
		case req.RetryAfter < 0 || req.RetryAfter.Std() > taskmill.MaxDelay:
			return taskmill.Invalid("retry_after", "range", "must be between 0 and %s", taskmill.MaxDelay)
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The task as leased: its attempt, attempts and deadline decide the
	// outcome (backend.Failure.Retries), its type the backoff.
	t, err := s.leasedTask(r.Context(), ref, req.WorkerID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The same outcome rule as the Go worker: the type's backoff unless
	// the worker asks for a wait, the retry-or-dead-letter decision by
	// backend.Failure.Retries.
	attemptErr := errors.New(req.Error)
	rec, err := taskmill.FinishAttempt(r.Context(), s.client.Backend(), ref, t, taskmill.AttemptReport{
		Err: attemptErr, Final: req.Final, RetryIn: req.RetryAfter.Std(), Backoff: s.cfg.Types.BackoffFor(t.Type, nil)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := apiclient.AttemptOutcome{ID: t.ID, State: backend.StateFailed}
	if rec.Outcome == taskmill.OutcomeRetrying {
		out.State, out.RunAt = backend.StateRetrying, time.Now().UTC().Add(rec.RetryIn)
	}
	s.attemptDone(r.Context(), t, rec.Outcome, attemptErr)
	writeJSON(w, http.StatusOK, out)
}

// POST /api/tasks/{id}/progress
func (s *Server) reportProgress(w http.ResponseWriter, r *http.Request) {
	var req apiclient.ProgressRequest
	ref, err := s.decodeLease(w, r, &req, &req.Token, func() error {
		if req.Percent < 0 || req.Percent > 100 {
			return taskmill.Invalid("percent", "range", "must be between 0 and 100, got %g", req.Percent)
		}
		if len(req.Message) > maxProgressLength {
			return taskmill.Invalid("message", "length", "must be at most %d bytes", maxProgressLength)
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := backend.Progress{Percent: req.Percent, Message: req.Message, At: time.Now().UTC()}
	if err := s.client.Backend().SetProgress(r.Context(), ref, p); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/tasks/{id}/release
func (s *Server) releaseTask(w http.ResponseWriter, r *http.Request) {
	var req apiclient.ReleaseRequest
	ref, err := s.decodeLease(w, r, &req, &req.Token, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.client.Backend().Release(r.Context(), ref); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
