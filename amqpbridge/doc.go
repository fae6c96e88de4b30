// Package amqpbridge connects taskmill to an AMQP 0-9-1 broker (RabbitMQ):
// producers submit tasks by publishing messages, and hear back when their
// tasks finish, without using the HTTP API.
//
// The Bridge consumes a durable queue (a quorum queue by default). Each
// message body is exactly the JSON body of POST /api/tasks and goes through
// the same decoder and the same Client validation; its AMQP message_id,
// when set, is the task id. A message is acknowledged to the broker only
// after the backend has stored its task, so a message the broker redelivers
// (after a crash of either side) finds its id already stored and makes no
// second task. A message that fails validation is published to a
// dead-letter exchange with the error in its headers and then acknowledged:
// it is kept, never stored as a task.
//
// A message with reply_to gets one reply on that queue when its task
// reaches a final state (see Reply). Optionally every task transition is
// published to a topic exchange (see Config.EventsExchange).
//
// The Bridge reconnects with capped exponential backoff when the broker
// goes away, and reports the state of its link as a server.LinkReporter.
// docs/amqp.md describes the message formats and the delivery guarantees.
package amqpbridge
