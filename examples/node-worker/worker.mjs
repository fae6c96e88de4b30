#!/usr/bin/env node
// A taskmill worker in Node.js, with no dependencies: it speaks the HTTP
// worker protocol (docs/api.md, "Workers in other languages") with Node's
// built-in fetch. It registers with a heartbeat, long-polls for tasks of
// the types it handles, extends its leases while they run, reports
// progress, and acks or fails each task with the lease token it got.
// On SIGTERM, SIGINT or a stop request from the API it stops leasing,
// lets running tasks finish (up to SHUTDOWN_TIMEOUT), hands back the rest
// and leaves the registry.
//
//   TASKMILL_SERVER=http://127.0.0.1:8080 TASKMILL_TOKEN=… QUEUES=node node worker.mjs
//
// Settings (environment): TASKMILL_SERVER (default http://127.0.0.1:8080),
// TASKMILL_TOKEN (an API key with role worker or admin, if the server has
// keys), WORKER_ID (default host-pid-node), QUEUES (comma-separated,
// default "node"), CONCURRENCY (default 4), LEASE_FOR (seconds, default
// 30), SHUTDOWN_TIMEOUT (seconds, default 30).

import { randomBytes } from "node:crypto";
import os from "node:os";
import process from "node:process";

const server = (process.env.TASKMILL_SERVER || "http://127.0.0.1:8080").replace(/\/+$/, "");
const token = process.env.TASKMILL_TOKEN || "";
const workerId = process.env.WORKER_ID || `${os.hostname().replace(/[^A-Za-z0-9_.:-]/g, "-")}-${process.pid}-node`;
const queues = (process.env.QUEUES || "node").split(",").map((q) => q.trim()).filter(Boolean);
const concurrency = positiveInt("CONCURRENCY", 4);
const leaseFor = positiveInt("LEASE_FOR", 30);
const shutdownTimeout = positiveInt("SHUTDOWN_TIMEOUT", 30);
const heartbeatTTL = Math.max(3, leaseFor);

// The task types this worker runs. A handler gets the payload and a
// context with an AbortSignal (aborted when the task is canceled or its
// lease is lost) and progress(percent, message); it returns the result or
// throws. An error with final = true is not retried.
const handlers = {
  "node:reverse": async (payload) => {
    if (typeof payload?.text !== "string") throw finalError("payload.text must be a string");
    return { reversed: [...payload.text].reverse().join(""), by: "node" };
  },
  "node:wordcount": async (payload) => {
    const text = String(payload?.text ?? "");
    const words = text.split(/\s+/).filter(Boolean);
    return { words: words.length, chars: text.length };
  },
  "node:slow": async (payload, ctx) => {
    const steps = Math.max(1, Math.min(1000, Number(payload?.steps ?? 5)));
    const stepMs = Math.max(0, Math.min(60_000, Number(payload?.step_ms ?? 100)));
    for (let i = 1; i <= steps; i++) {
      await sleep(stepMs, ctx.signal);
      await ctx.progress((100 * i) / steps, `step ${i} of ${steps}`);
    }
    return { steps };
  },
  "node:fail": async (payload) => {
    const err = new Error(payload?.message || "node:fail always fails");
    err.final = Boolean(payload?.final);
    throw err;
  },
};
const types = Object.keys(handlers);

function positiveInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

function finalError(message) {
  const err = new Error(message);
  err.final = true;
  return err;
}

function log(msg, fields = {}) {
  console.log(JSON.stringify({ time: new Date().toISOString(), worker: workerId, msg, ...fields }));
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error("aborted"));
    }, { once: true });
  });
}

class APIError extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error?.code ?? ""}: ${body?.error?.message ?? ""}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

// call sends one API request and returns the decoded JSON answer (or null).
async function call(method, path, body, signal) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(server + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

const running = new Map(); // task id → { token, controller }
let draining = false;
let leaseController = null;
const startedAt = new Date().toISOString(); // sent with every heartbeat: the registry shows it
// Binds the worker id to this process: nobody else can heartbeat as it or unregister it.
const secret = randomBytes(16).toString("hex");

async function heartbeat() {
  const reply = await call("POST", `/api/workers/${encodeURIComponent(workerId)}/heartbeat`, {
    host: os.hostname(), pid: process.pid, queues, types, concurrency, running: [...running.keys()], ttl: `${heartbeatTTL}s`,
    started_at: startedAt, secret,
  });
  if (reply?.stop_requested && !draining) {
    log("stop requested through the API; draining");
    shutdown();
  }
}

// extendLeases pushes the leases of running tasks; a lease the server no
// longer holds for us aborts its handler, whose result is then dropped.
async function extendLeases() {
  if (running.size === 0) return;
  const leases = [...running.entries()].map(([id, r]) => ({ task_id: id, token: r.token }));
  const reply = await call("POST", `/api/workers/${encodeURIComponent(workerId)}/extend`, { leases, lease_for: `${leaseFor}s` });
  for (const l of reply.leases) {
    const r = running.get(l.task_id);
    if (r && !l.held) {
      r.lost = true;
      r.controller.abort(new Error(l.canceled ? "task canceled" : "lease lost"));
    }
  }
}

async function runTask(task) {
  const controller = new AbortController();
  const entry = { token: task.lease_token, controller, lost: false };
  running.set(task.id, entry);
  const path = `/api/tasks/${encodeURIComponent(task.id)}`;
  const ctx = {
    signal: controller.signal,
    attempt: task.attempt,
    progress: (percent, message) => call("POST", `${path}/progress`, { token: entry.token, percent, message }).catch(() => {}),
  };
  try {
    let result;
    try {
      result = await handlers[task.type](task.payload ?? {}, ctx);
    } catch (err) {
      if (entry.lost) return; // canceled or reclaimed: report nothing
      if (entry.released) return;
      const out = await call("POST", `${path}/fail`, { token: entry.token, worker_id: workerId, error: String(err?.message ?? err), final: Boolean(err?.final) });
      log("task failed", { task: task.id, type: task.type, state: out.state, error: String(err?.message ?? err) });
      return;
    }
    if (entry.lost || entry.released) return;
    await call("POST", `${path}/ack`, { token: entry.token, worker_id: workerId, result: result ?? null });
    log("task completed", { task: task.id, type: task.type });
  } catch (err) {
    // A 409 lease_lost means the task went elsewhere: nothing to do.
    log("report failed", { task: task.id, error: String(err?.message ?? err) });
  } finally {
    running.delete(task.id);
  }
}

async function leaseLoop() {
  while (!draining) {
    const free = concurrency - running.size;
    if (free <= 0) {
      await sleep(50);
      continue;
    }
    leaseController = new AbortController();
    try {
      const reply = await call("POST", `/api/workers/${encodeURIComponent(workerId)}/lease`,
        { queues, types, max: free, wait: "20s", lease_for: `${leaseFor}s` }, leaseController.signal);
      for (const task of reply.tasks) runTask(task);
    } catch (err) {
      if (draining) break;
      log("lease failed; retrying in 1s", { error: String(err?.message ?? err) });
      await sleep(1000);
    }
  }
}

function every(seconds, fn) {
  const timer = setInterval(() => fn().catch((err) => log("background call failed", { error: String(err?.message ?? err) })), seconds * 1000);
  timer.unref();
  return timer;
}

let shuttingDown = null;
function shutdown() {
  if (shuttingDown) return shuttingDown;
  draining = true;
  leaseController?.abort(new Error("shutting down"));
  shuttingDown = (async () => {
    const deadline = Date.now() + shutdownTimeout * 1000;
    while (running.size > 0 && Date.now() < deadline) await sleep(50);
    // Whatever still runs goes back to pending without counting an attempt.
    for (const [id, r] of running) {
      r.released = true;
      r.controller.abort(new Error("worker stopping"));
      await call("POST", `/api/tasks/${encodeURIComponent(id)}/release`, { token: r.token }).catch(() => {});
    }
    await call("POST", `/api/workers/${encodeURIComponent(workerId)}/unregister`, { secret }).catch(() => {});
    log("worker stopped");
    process.exit(0);
  })();
  return shuttingDown;
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

await heartbeat();
log("worker registered", { server, queues, types, concurrency, started: startedAt });
every(Math.max(1, Math.floor(heartbeatTTL / 3)), heartbeat);
every(Math.max(1, Math.floor(leaseFor / 3)), extendLeases);
await leaseLoop();
await shutdown();
