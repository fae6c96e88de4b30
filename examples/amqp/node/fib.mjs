// Submit fibonacci(35) to taskmill over RabbitMQ and wait for its result.
//
//   taskmill serve --amqp amqp://guest:guest@127.0.0.1:5672/
//   npm ci && AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ node fib.mjs   # prints 9227465
//
// The body is exactly the body of POST /api/tasks; message_id is the task
// id (a redelivery never makes a second task); reply_to names an exclusive
// queue that gets one reply, with our correlation_id, when the task is
// final. See docs/amqp.md.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';
const queue = process.env.TASKMILL_AMQP_QUEUE ?? 'taskmill.submit';
const n = Number(process.argv[2] ?? 35);

const conn = await amqp.connect(url);
try {
  // A confirm channel: the publish callback fires once the broker took it.
  const ch = await conn.createConfirmChannel();
  const { queue: replyQueue } = await ch.assertQueue('', { exclusive: true });
  const taskId = `fib-${randomUUID()}`;
  const correlationId = randomUUID();

  const reply = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply within 120 s: is taskmill serve --amqp running?')), 120_000);
    ch.consume(replyQueue, (msg) => {
      if (msg === null || msg.properties.correlationId !== correlationId) return; // not ours
      clearTimeout(timer);
      resolve(JSON.parse(msg.content.toString()));
    }, { noAck: true });
  });

  // mandatory: a message no queue takes (no taskmill has declared it yet)
  // comes back as a 'return' before its confirm, instead of being
  // confirmed and dropped.
  let returned = false;
  ch.on('return', (msg) => { if (msg.properties.messageId === taskId) returned = true; });
  await new Promise((resolve, reject) => {
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ type: 'fibonacci', payload: { n } })), {
      contentType: 'application/json',
      persistent: true,
      mandatory: true,
      messageId: taskId,
      correlationId,
      replyTo: replyQueue,
    }, (err) => (err ? reject(err) : returned ? reject(new Error(`no queue ${queue}: is taskmill serve --amqp running?`)) : resolve()));
  });
  console.error(`submitted task ${taskId}, waiting for the reply`);

  const r = await reply;
  if (r.state !== 'completed') {
    console.error(`task ${r.id} ended ${r.state}: ${r.error ?? ''}`);
    process.exitCode = 1;
  } else {
    console.log(r.result.value);
  }
} finally {
  await conn.close();
}
