package amqpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill/backend"
)

// Reply is the JSON body of the message a producer gets on its reply_to
// queue, once, when its task reaches a final state. The message carries
// the producer's correlation_id, message_id = the task id, content type
// application/json and type "taskmill.reply".
type Reply struct {
	// ID is the task's id (the message_id of the submit, when it had one).
	ID string `json:"id"`
	// Type and Queue are the task's.
	Type  string `json:"type,omitempty"`
	Queue string `json:"queue,omitempty"`
	// State is "completed", "failed" or "canceled" for a task that ran
	// its course, or "rejected" for a message that was not stored (it is
	// in the dead-letter exchange).
	State string `json:"state"`
	// Result is the handler's result of a completed task.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the last error of a failed task, the reason of a canceled
	// one, or what was wrong with a rejected message.
	Error string `json:"error,omitempty"`
	// ErrorCode and ErrorField, for a rejected message, are the API's
	// error code and the field at fault (as the dead-letter headers).
	ErrorCode  string `json:"error_code,omitempty"`
	ErrorField string `json:"error_field,omitempty"`
	// Attempt is the number of attempts the task took.
	Attempt int `json:"attempt,omitempty"`
	// FinishedAt is when the task reached its final state.
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// StateRejected is the Reply state of a message that failed validation.
const StateRejected = "rejected"

func replyOf(t *backend.Task) *Reply {
	return &Reply{ID: t.ID, Type: t.Type, Queue: t.Queue, State: string(t.State), Result: t.Result,
		Error: t.LastError, Attempt: t.Attempt, FinishedAt: t.FinishedAt}
}

// replyAddr is where a task's reply goes.
type replyAddr struct{ Queue, CorrelationID string }

// replyAddrOf reads the reply address a submit stored in the task.
func replyAddrOf(t *backend.Task) (replyAddr, bool) {
	q := t.TraceContext[traceReplyTo]
	return replyAddr{Queue: q, CorrelationID: t.TraceContext[traceCorrelationID]}, q != ""
}

// replyRegistry holds the tasks this process will answer when they finish:
// an index in memory over what the tasks themselves record (their
// trace_context), so that a final event needs no backend read to decide.
// Taking an entry is what entitles a goroutine to send its reply, so that
// an event and a resync finding the same final task send one reply.
type replyRegistry struct {
	mu sync.Mutex
	m  map[string]replyAddr
}

func newReplyRegistry() *replyRegistry { return &replyRegistry{m: map[string]replyAddr{}} }

func (r *replyRegistry) add(id string, to replyAddr) {
	r.mu.Lock()
	r.m[id] = to
	r.mu.Unlock()
}

// remove drops id's entry if it still points to to.
func (r *replyRegistry) remove(id string, to replyAddr) {
	r.mu.Lock()
	if r.m[id] == to {
		delete(r.m, id)
	}
	r.mu.Unlock()
}

func (r *replyRegistry) take(id string) (replyAddr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	to, ok := r.m[id]
	delete(r.m, id)
	return to, ok
}

func (r *replyRegistry) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[id]
	return ok
}

func (r *replyRegistry) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	return ids
}

func (r *replyRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// replyJob is one reply to send. reply is nil when it is still to be
// read from the task (the sender Gets it: the stored record is the truth).
type replyJob struct {
	id    string
	to    replyAddr
	reply *Reply
}

// outbox holds the replies taken from the registry and not yet confirmed
// by the broker. It lives in memory: a crash loses what it holds.
type outbox struct {
	mu     sync.Mutex
	jobs   []replyJob
	signal chan struct{}
}

func newOutbox() *outbox { return &outbox{signal: make(chan struct{}, 1)} }

func (o *outbox) push(j replyJob) {
	o.mu.Lock()
	o.jobs = append(o.jobs, j)
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

func (o *outbox) pop(ctx context.Context) (replyJob, bool) {
	for {
		o.mu.Lock()
		if len(o.jobs) > 0 {
			j := o.jobs[0]
			o.jobs = o.jobs[1:]
			more := len(o.jobs) > 0
			o.mu.Unlock()
			if more {
				// Wake another sender for the rest.
				select {
				case o.signal <- struct{}{}:
				default:
				}
			}
			return j, true
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return replyJob{}, false
		case <-o.signal:
		}
	}
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.jobs)
}

// sendReplies publishes the outbox's replies until ctx ends, each waiting
// for the broker's confirm; one that fails goes back to the outbox and
// waits for the link (or the backend) to come back.
func (b *Bridge) sendReplies(ctx context.Context) {
	for fails := 0; ; {
		j, ok := b.outbox.pop(ctx)
		if !ok {
			return
		}
		err := b.sendReply(ctx, j)
		switch {
		case err == nil:
			fails = 0
			b.m.replies.WithLabelValues("sent").Inc()
			continue
		case errors.Is(err, backend.ErrNotFound):
			b.log.Info("amqp reply dropped: the task was deleted", "task_id", j.id)
			continue
		case ctx.Err() != nil:
			return
		}
		fails++
		b.m.replies.WithLabelValues("failed").Inc()
		b.log.Warn("amqp reply failed; will retry", "task_id", j.id, "err", err)
		b.outbox.push(j)
		sleep(ctx, b.reconnectWait(fails))
	}
}

func (b *Bridge) sendReply(ctx context.Context, j replyJob) error {
	s := b.currentSession(ctx)
	if s == nil {
		return ctx.Err()
	}
	r := j.reply
	if r == nil {
		t, err := b.cfg.Client.Backend().Get(ctx, j.id)
		if err != nil {
			return err
		}
		r = replyOf(t)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.publish(ctx, s, "", j.to.Queue, amqp.Publishing{
		ContentType: "application/json", CorrelationId: j.to.CorrelationID, MessageId: j.id,
		Type: "taskmill.reply", DeliveryMode: amqp.Persistent, Timestamp: time.Now().UTC(), Body: body,
	})
}

// replyIfFinal answers a task that is final already: a redelivered
// submit whose task finished before the redelivery.
func (b *Bridge) replyIfFinal(ctx context.Context, id string) {
	t, err := b.cfg.Client.Backend().Get(ctx, id)
	if err != nil {
		b.log.Warn("amqp reply: read task", "task_id", id, "err", err)
		return // the next resync reads it again
	}
	if t.State.Final() {
		if to, ok := b.replies.take(id); ok {
			b.outbox.push(replyJob{id: id, to: to, reply: replyOf(t)})
		}
	}
}
