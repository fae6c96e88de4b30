package amqpbridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill"
)

// consume runs the submit consumer on s until s ends or ctx does.
// Prefetch bounds the deliveries in flight; as many goroutines handle
// them, so that concurrent submits share the backend's group commits.
func (b *Bridge) consume(ctx context.Context, s *session) error {
	deliveries, err := s.consume.ConsumeWithContext(ctx, b.cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		s.end(err)
		return fmt.Errorf("consume %q: %w", b.cfg.Queue, err)
	}
	var wg sync.WaitGroup
	for range b.cfg.Prefetch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range deliveries {
				b.handle(ctx, s, d)
			}
		}()
	}
	handlersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(handlersDone)
	}()
	select {
	case <-s.closed:
	case <-ctx.Done():
	case <-handlersDone:
		// deliveries closed with the session still open: the broker
		// canceled the consumer (the queue was deleted, say). A new
		// session declares the queue again.
		s.end(fmt.Errorf("the broker canceled the consumer of %q", b.cfg.Queue))
	}
	// Closing the connection closes deliveries; the broker requeues
	// every message not acknowledged by then.
	s.close()
	<-handlersDone
	return s.reason()
}

// handle stores the task one message describes and settles the message:
// ack once stored (or already stored: a redelivery), dead-letter when
// refused, requeue when the backend failed.
func (b *Bridge) handle(ctx context.Context, s *session, d amqp.Delivery) {
	req, err := b.decode(d)
	if err != nil {
		b.refuse(ctx, s, d, req.ID, err)
		return
	}
	var to replyAddr
	if d.ReplyTo != "" && !b.cfg.NoReplies {
		to = replyAddr{Queue: d.ReplyTo, CorrelationID: d.CorrelationId}
		// Registered before the submit: the task may finish before
		// Submit returns, and its final event must find the entry.
		b.replies.add(req.ID, to)
	}
	info, err := b.cfg.Client.Submit(ctx, req)
	var dup *taskmill.DuplicateError
	var invalid *taskmill.ValidationError
	switch {
	case err == nil:
		b.m.messages.WithLabelValues(outcomeStored).Inc()
		if b.cfg.Submitted != nil {
			b.cfg.Submitted(info.Type, info.Queue)
		}
	case errors.As(err, &invalid):
		// The Client's checks (type registry, payload schema, sizes).
		b.refuse(ctx, s, d, req.ID, err)
		return
	case errors.As(err, &dup) && dup.ExistingID != req.ID:
		// Another task holds the unique key: refused, as HTTP answers 409.
		b.refuse(ctx, s, d, req.ID, err)
		return
	case errors.Is(err, taskmill.ErrDuplicate):
		// The id is stored already: this is a redelivery of a message
		// whose ack was lost. Nothing new is stored.
		b.m.messages.WithLabelValues(outcomeDuplicate).Inc()
		if to.Queue != "" {
			b.replyIfFinal(ctx, req.ID)
		}
	default:
		if ctx.Err() != nil {
			return // shutting down: the closing connection requeues it
		}
		n := b.failStreak.Add(1)
		wait := b.requeueWait(int(n))
		b.log.Warn("amqp submit failed; requeueing", "task_id", req.ID, "err", err, "retry_in", wait)
		sleep(ctx, wait)
		b.m.messages.WithLabelValues(outcomeRequeued).Inc()
		_ = d.Nack(false, true)
		return
	}
	b.failStreak.Store(0)
	if err := d.Ack(false); err != nil {
		// The channel is gone; the broker redelivers the message, whose
		// id is stored now: the redelivery is acknowledged as a duplicate.
		b.log.Debug("amqp ack failed", "task_id", req.ID, "err", err)
	}
}

// requeueWait grows from 50ms to 5s with the failures in a row.
func (b *Bridge) requeueWait(n int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < n && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// decode turns a message into a request: the body through the same
// strict decoder as POST /api/tasks, and the message_id as the task id.
// The Client validates the rest when it submits. The returned request
// carries the id even on error, for the logs and the reply.
func (b *Bridge) decode(d amqp.Delivery) (taskmill.TaskRequest, error) {
	id := d.MessageId
	if len(d.Body) > b.cfg.MaxMessageSize {
		return taskmill.TaskRequest{ID: id}, taskmill.Invalid("body", "size", "the message body is %d bytes; the limit is %d", len(d.Body), b.cfg.MaxMessageSize)
	}
	if d.ContentType != "" && d.ContentType != "application/json" {
		return taskmill.TaskRequest{ID: id}, taskmill.Invalid("content_type", "media_type", "must be application/json (or left out), got %q", d.ContentType)
	}
	req, err := taskmill.DecodeTaskRequest(d.Body, "")
	if err != nil {
		return taskmill.TaskRequest{ID: id}, err
	}
	switch {
	case id != "" && req.ID != "" && req.ID != id:
		return req, taskmill.Invalid("id", "conflict", "the body's id %q differs from the message_id %q; give one of them", req.ID, id)
	case id != "":
		if err := taskmill.ValidateName("message_id", id); err != nil {
			return taskmill.TaskRequest{ID: id}, err
		}
		req.ID = id
	case req.ID == "":
		// No id: a fresh one, known before the submit so that the reply
		// registry can hold it. A redelivery of such a message makes a
		// second task: give message_id for exactly one.
		u, err := uuid.NewV7()
		if err != nil {
			return req, fmt.Errorf("new task id: %w", err)
		}
		req.ID = u.String()
	}
	if len(req.TraceContext) == 0 {
		// W3C trace headers on the message join the task to the
		// producer's trace, as HTTP requests' do.
		for _, k := range []string{"traceparent", "tracestate"} {
			if v, ok := d.Headers[k].(string); ok && v != "" {
				if req.TraceContext == nil {
					req.TraceContext = map[string]string{}
				}
				req.TraceContext[k] = v
			}
		}
	}
	if d.ReplyTo != "" && !b.cfg.NoReplies {
		// The reply address travels in the task, so that a bridge started
		// after a crash still knows where to answer (see adopt).
		tc := make(map[string]string, len(req.TraceContext)+2)
		maps.Copy(tc, req.TraceContext)
		tc[traceReplyTo] = d.ReplyTo
		if d.CorrelationId != "" {
			tc[traceCorrelationID] = d.CorrelationId
		}
		req.TraceContext = tc
	}
	return req, nil
}

// Keys of the reply address in a task's trace_context.
const (
	traceReplyTo       = "amqp-reply-to"
	traceCorrelationID = "amqp-correlation-id"
)

// refuse publishes a message the bridge will not store to the dead-letter
// exchange, with the reason in its headers, and acknowledges it once the
// broker confirmed the copy. A message with reply_to is also answered, so
// that its producer is not left waiting.
func (b *Bridge) refuse(ctx context.Context, s *session, d amqp.Delivery, id string, cause error) {
	code, field, message := errorHeaders(cause)
	if code == "internal" {
		// Not the message's fault (no id could be made): try again later.
		sleep(ctx, b.requeueWait(1))
		_ = d.Nack(false, true)
		return
	}
	headers := amqp.Table{}
	maps.Copy(headers, d.Headers)
	headers[HeaderErrorCode] = code
	headers[HeaderErrorField] = field
	headers[HeaderErrorMessage] = message
	headers[HeaderQueue] = b.cfg.Queue
	msg := amqp.Publishing{
		Headers: headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: amqp.Persistent, CorrelationId: d.CorrelationId, ReplyTo: d.ReplyTo,
		MessageId: d.MessageId, Timestamp: d.Timestamp, Type: d.Type, AppId: d.AppId, Body: d.Body,
	}
	if err := b.publish(ctx, s, b.cfg.DeadLetterExchange, d.RoutingKey, msg); err != nil {
		b.log.Warn("amqp dead-letter publish failed; requeueing", "err", err)
		sleep(ctx, b.requeueWait(1))
		_ = d.Nack(false, true)
		return
	}
	b.m.messages.WithLabelValues(outcomeDeadLettered).Inc()
	b.log.Info("amqp message refused", "message_id", d.MessageId, "code", code, "field", field, "error", message)
	if d.ReplyTo != "" && !b.cfg.NoReplies {
		if id != "" {
			b.replies.remove(id, replyAddr{Queue: d.ReplyTo, CorrelationID: d.CorrelationId})
		}
		b.outbox.push(replyJob{to: replyAddr{Queue: d.ReplyTo, CorrelationID: d.CorrelationId},
			reply: &Reply{ID: id, State: StateRejected, Error: message, ErrorCode: code, ErrorField: field}})
	}
	_ = d.Ack(false)
}

// Headers the bridge sets on a dead-lettered message.
const (
	HeaderErrorCode    = "x-taskmill-error-code"    // the API's error code, e.g. "invalid_range"
	HeaderErrorField   = "x-taskmill-error-field"   // the JSON path of the field at fault, e.g. "priority"
	HeaderErrorMessage = "x-taskmill-error-message" // what to do about it
	HeaderQueue        = "x-taskmill-queue"         // the submit queue the message came from
)

// errorHeaders are the code, field and message the HTTP API would answer
// for err (docs/api.md lists the codes).
func errorHeaders(err error) (code, field, message string) {
	var ve *taskmill.ValidationError
	var dup *taskmill.DuplicateError
	switch {
	case errors.As(err, &ve):
		return "invalid_" + ve.Rule, ve.Field, ve.Message
	case errors.As(err, &dup):
		return "duplicate", "unique_key", dup.Error()
	}
	return "internal", "", err.Error()
}
