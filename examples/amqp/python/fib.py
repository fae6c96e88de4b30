#!/usr/bin/env python3
"""Submit fibonacci(35) to taskmill over RabbitMQ and wait for its result.

    taskmill serve --amqp amqp://guest:guest@127.0.0.1:5672/
    AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ python3 fib.py   # prints 9227465

The message body is exactly the body of POST /api/tasks; message_id is the
task id (a redelivery never makes a second task); reply_to names an
exclusive queue that gets one reply, with our correlation_id, when the task
is final. See docs/amqp.md.
"""
import json
import os
import sys
import uuid

import pika  # Debian: apt-get install python3-pika

url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
queue = os.environ.get("TASKMILL_AMQP_QUEUE", "taskmill.submit")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 35

conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
ch.confirm_delivery()  # basic_publish raises unless the broker took the message

# An exclusive, server-named queue for the reply: it goes away with us.
reply_queue = ch.queue_declare(queue="", exclusive=True).method.queue

task_id = "fib-" + uuid.uuid4().hex
correlation_id = uuid.uuid4().hex
ch.basic_publish(
    exchange="",
    routing_key=queue,
    body=json.dumps({"type": "fibonacci", "payload": {"n": n}}),
    properties=pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,  # persistent
        message_id=task_id,
        correlation_id=correlation_id,
        reply_to=reply_queue,
    ),
    mandatory=True,  # fail if no taskmill has declared the queue yet
)
print(f"submitted task {task_id}, waiting for the reply", file=sys.stderr)

for method, props, body in ch.consume(reply_queue, auto_ack=True, inactivity_timeout=120):
    if method is None:
        sys.exit("no reply within 120 s: is taskmill serve --amqp running?")
    if props.correlation_id != correlation_id:
        continue  # not ours
    reply = json.loads(body)
    if reply["state"] != "completed":
        sys.exit(f"task {reply['id']} ended {reply['state']}: {reply.get('error')}")
    print(reply["result"]["value"])
    break
conn.close()
