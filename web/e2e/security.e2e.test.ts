// The browser is a client too (issue #11), checked in real headless
// Chromium against a real `taskmill serve` on loopback with no API keys,
// its default:
//
//   - a page served from another origin (a second loopback port) tries a
//     simple fetch and a no-cors fetch with a text/plain body, form posts
//     (text/plain and urlencoded) and a WebSocket: nothing changes on the
//     server and the page reads nothing;
//   - a page whose name is rebound to the server's address (Chromium's
//     host resolver maps evil.example to 127.0.0.1, as a rebinding DNS
//     answer would) is refused, the event stream included.
//
// Every wait is for a condition; the attack page says when it is done.

import { createServer, type Server as HTTPServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./browser";
import { buildTaskmill, startServer, tempDir, type Server } from "./server";

let tmp: ReturnType<typeof tempDir>;
let server: Server;
let attacker: HTTPServer;
let attackerURL: string;
let chromium: Awaited<ReturnType<typeof launchChromium>>;

interface ApiTask {
  id: string;
  state: string;
}

/** api calls the server as the CLI does: JSON, no Origin. */
async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(server.url + path, {
    method: init.method ?? "GET",
    headers: { "Content-Type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

// The attack page. It runs every attempt in turn, records what it could
// read, and sets window.__done with the results.
function attackPage(target: string, taskID: string): string {
  const script = `
(async () => {
  const T = ${JSON.stringify(target)};
  const TASK = ${JSON.stringify(taskID)};
  const results = {};
  async function attempt(name, p) {
    try {
      const r = await p;
      let body = null;
      try { body = await r.text(); } catch (e) {}
      results[name] = { type: r.type, status: r.status, body };
    } catch (e) {
      results[name] = { error: String(e) };
    }
  }
  const submit = JSON.stringify({ type: "echo", payload: { by: "attacker" } });
  await attempt("simple text/plain submit", fetch(T + "/api/tasks", { method: "POST", headers: { "Content-Type": "text/plain" }, body: submit }));
  await attempt("no-cors text/plain submit", fetch(T + "/api/tasks", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: submit }));
  await attempt("no-cors cancel", fetch(T + "/api/tasks/" + TASK + "/cancel", { method: "POST", mode: "no-cors" }));
  await attempt("no-cors pause", fetch(T + "/api/queues/default/pause", { method: "POST", mode: "no-cors" }));
  await attempt("simple read", fetch(T + "/api/tasks"));
  await attempt("no-cors read", fetch(T + "/api/tasks", { mode: "no-cors" }));
  await attempt("preflighted JSON submit", fetch(T + "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json" }, body: submit }));
  await attempt("preflighted delete", fetch(T + "/api/tasks/" + TASK, { method: "DELETE" }));

  async function formPost(name, action, enctype, fields) {
    const frame = document.createElement("iframe");
    frame.name = name;
    // The first load is the iframe's own about:blank; the form's answer
    // is the second.
    await new Promise((loaded) => {
      frame.onload = () => loaded();
      document.body.appendChild(frame);
    });
    return new Promise((done) => {
      frame.onload = () => done();
      const form = document.createElement("form");
      form.method = "POST";
      form.action = action;
      form.enctype = enctype;
      form.target = name;
      for (const [k, v] of Object.entries(fields)) {
        const input = document.createElement("input");
        input.name = k;
        input.value = v;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    });
  }
  // text/plain forms send "name=value": this one is the JSON of a task.
  await formPost("form1", T + "/api/tasks", "text/plain", { '{"type":"echo","payload":{"x":"': '"}}' });
  await formPost("form2", T + "/api/tasks/" + TASK + "/cancel", "application/x-www-form-urlencoded", { a: "1" });
  try {
    results["form read"] = { body: document.querySelector("iframe[name=form1]").contentDocument.body.innerText };
  } catch (e) {
    results["form read"] = { error: String(e) };
  }

  results["websocket"] = await new Promise((done) => {
    const messages = [];
    let opened = false;
    const ws = new WebSocket(T.replace(/^http/, "ws") + "/api/events");
    ws.onopen = () => {
      opened = true;
      // Only reached when the server wrongly accepts: give events a
      // moment to arrive so the failure report shows what leaked.
      setTimeout(() => ws.close(), 3000);
    };
    ws.onmessage = (m) => messages.push(String(m.data));
    ws.onclose = (e) => done({ opened, messages, code: e.code });
  });
  window.__done = results;
})();`;
  return `<!doctype html><html><head><title>not taskmill</title></head><body><h1>cute cats</h1><script>${script}</script></body></html>`;
}

beforeAll(async () => {
  tmp = tempDir("taskmill-e2e-security-");
  const bin = buildTaskmill(tmp.path);
  server = await startServer(bin, join(tmp.path, "data"));
  attacker = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(attackPage(u.searchParams.get("target") ?? "", u.searchParams.get("task") ?? ""));
  });
  await new Promise<void>((res) => attacker.listen(0, "127.0.0.1", () => res()));
  attackerURL = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  chromium = await launchChromium({ args: ["--host-resolver-rules=MAP evil.example 127.0.0.1"] });
});

afterAll(async () => {
  await chromium?.close();
  attacker?.close();
  await server?.stop();
  tmp?.remove();
});

async function newPage(): Promise<Page> {
  const page = await chromium.context.newPage();
  page.setDefaultTimeout(60_000);
  return page;
}

describe("a page on another origin against the default server", () => {
  it("changes nothing and reads nothing", async () => {
    // A task the attack tries to cancel and delete: scheduled an hour
    // out, so that a cancel would show.
    const victim = await api<ApiTask>("/api/tasks", { method: "POST", body: { type: "echo", delay: "1h" } });
    const before = await api<{ tasks: ApiTask[] }>("/api/tasks?limit=1000");

    const page = await newPage();
    // What reached the server and what it answered, as the browser's
    // network layer saw it (the page itself sees opaque answers only).
    const answers: { method: string; url: string; status: number }[] = [];
    page.on("response", (r) => {
      if (r.url().startsWith(server.url)) answers.push({ method: r.request().method(), url: r.url(), status: r.status() });
    });
    await page.goto(`${attackerURL}/?target=${encodeURIComponent(server.url)}&task=${victim.id}`);
    await page.waitForFunction(() => (window as unknown as { __done?: unknown }).__done !== undefined, null, { timeout: 90_000 });
    const results = await page.evaluate(() => (window as unknown as { __done: Record<string, { type?: string; status?: number; body?: string | null; error?: string; opened?: boolean; messages?: string[] }> }).__done);
    console.log("attack page results:", JSON.stringify(results, null, 2));
    console.log("server answers to the attack:", JSON.stringify(answers, null, 2));

    // Nothing was read: every fetch failed (CORS) or was opaque.
    for (const name of ["simple text/plain submit", "simple read", "preflighted JSON submit", "preflighted delete"]) {
      expect(results[name].error, name).toMatch(/TypeError|Failed to fetch/);
    }
    for (const name of ["no-cors text/plain submit", "no-cors cancel", "no-cors pause", "no-cors read"]) {
      expect(results[name].type, name).toBe("opaque");
      expect(results[name].body ?? "", name).toBe("");
    }
    expect(results["form read"].error ?? "", "the form's answer was readable").toMatch(/SecurityError|Blocked|null|cross-origin/i);
    expect(results["websocket"].opened, "the WebSocket opened").toBe(false);
    expect(results["websocket"].messages).toEqual([]);

    // The writes did reach the server, which refused every one of them:
    // at least the three no-cors posts and the two forms (a failed CORS
    // fetch may be reported as a failed request instead of a response).
    const posts = () => answers.filter((a) => a.method === "POST" || a.method === "DELETE");
    const end = Date.now() + 30_000;
    while (posts().length < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const writes = posts();
    expect(writes.length, "POSTs that reached the server").toBeGreaterThanOrEqual(5);
    for (const w of writes) expect([403, 415], `${w.method} ${w.url}`).toContain(w.status);

    // And nothing changed.
    const after = await api<{ tasks: ApiTask[] }>("/api/tasks?limit=1000");
    expect(after.tasks.map((t) => t.id).sort()).toEqual(before.tasks.map((t) => t.id).sort());
    expect((await api<ApiTask>(`/api/tasks/${victim.id}`)).state).toBe("scheduled");
    const queues = await api<{ queues: { name: string; paused: boolean }[] }>("/api/queues");
    expect(queues.queues.find((q) => q.name === "default")?.paused ?? false).toBe(false);
    await page.close();
  });
});

describe("DNS rebinding: a page whose name resolves to the server", () => {
  it("is refused, the event stream included", async () => {
    const before = await api<{ tasks: ApiTask[] }>("/api/tasks?limit=1000");
    const port = new URL(server.url).port;
    const rebound = `http://evil.example:${port}`;
    const page = await newPage();
    const first = await page.goto(rebound + "/");
    expect(first?.status()).toBe(421);
    // Now same-origin with the server, as far as the browser knows.
    const got = await page.evaluate(async () => {
      const read = await fetch("/api/tasks");
      const write = await fetch("/api/tasks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "echo" }) });
      const ws = await new Promise<{ opened: boolean; messages: string[] }>((done) => {
        const messages: string[] = [];
        let opened = false;
        const sock = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/events");
        sock.onopen = () => {
          opened = true;
          setTimeout(() => sock.close(), 3000); // only when wrongly accepted
        };
        sock.onmessage = (m) => messages.push(String(m.data));
        sock.onclose = () => done({ opened, messages });
      });
      return { read: { status: read.status, body: await read.text() }, write: { status: write.status, body: await write.text() }, ws };
    });
    console.log("rebinding page:", JSON.stringify(got));
    expect(got.read.status).toBe(421);
    expect(JSON.parse(got.read.body).error).toMatchObject({ code: "wrong_host", field: "Host" });
    expect(got.read.body).not.toContain('"tasks"');
    expect(got.write.status).toBe(421);
    expect(got.ws.opened).toBe(false);
    expect(got.ws.messages).toEqual([]);

    // The same server answers its own name.
    expect((await fetch(server.url + "/healthz")).status).toBe(200);
    const after = await api<{ tasks: ApiTask[] }>("/api/tasks?limit=1000");
    expect(after.tasks.length).toBe(before.tasks.length);
    await page.close();
  });
});
