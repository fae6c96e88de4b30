import { beforeEach, describe, expect, it } from "vitest";
import type { LiveEvent } from "../api/types";
import { LiveSocket, type LiveStatus, type SocketLike } from "./socket";

class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.({});
  }
  send(e: object | string) {
    this.onmessage?.({ data: typeof e === "string" ? e : JSON.stringify(e) });
  }
  drop() {
    this.onclose?.({});
  }
}

/** A clock and timer queue the test moves by hand. */
class Clock {
  now = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  set = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  };
  clear = (id: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== id);
  };
  advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.now = t.at;
      t.fn();
    }
    this.now = end;
  }
}

describe("LiveSocket", () => {
  let clock: Clock;
  let sockets: FakeSocket[];
  let batches: LiveEvent[][];
  let statuses: LiveStatus[];
  let live: LiveSocket;
  let url: string;

  beforeEach(() => {
    clock = new Clock();
    sockets = [];
    batches = [];
    statuses = [];
    url = "ws://h/api/events";
    live = new LiveSocket({
      url: () => url,
      create: (u) => {
        const s = new FakeSocket(u);
        sockets.push(s);
        return s;
      },
      backoff: { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0 },
      batchMs: 50,
      maxBatch: 5,
      stableMs: 3000,
      now: () => clock.now,
      setTimer: clock.set,
      clearTimer: clock.clear,
    });
    live.onEvents((b) => batches.push(b));
    live.onStatus((s) => statuses.push(s));
  });

  it("delivers events in batches, not one render per event", () => {
    live.start();
    sockets[0].open();
    sockets[0].send({ kind: "task_update", task: { id: "a" } });
    sockets[0].send({ kind: "queue_update", queue: "q" });
    sockets[0].send("not json");
    sockets[0].send({ no: "kind" });
    expect(batches).toEqual([]);
    clock.advance(50);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((e) => e.kind)).toEqual(["task_update", "queue_update"]);
  });

  it("turns a flood into one resync", () => {
    live.start();
    sockets[0].open();
    for (let i = 0; i < 6; i++) sockets[0].send({ kind: "task_update", task: { id: String(i) } });
    clock.advance(50);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((e) => e.kind)).toEqual(["resync"]);
  });

  it("reconnects with growing delays and asks for a resync after the gap", () => {
    live.start();
    sockets[0].open();
    expect(live.getStatus().state).toBe("open");
    clock.advance(10);
    sockets[0].drop();
    expect(live.getStatus()).toMatchObject({ state: "waiting", failures: 1, retryAt: clock.now + 100 });
    clock.advance(99);
    expect(sockets).toHaveLength(1);
    clock.advance(1);
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // refused
    expect(live.getStatus()).toMatchObject({ state: "waiting", failures: 2, retryAt: clock.now + 200 });
    clock.advance(200);
    sockets[2].drop();
    expect(live.getStatus()).toMatchObject({ failures: 3, retryAt: clock.now + 400 });
    clock.advance(400);
    sockets[3].open();
    expect(live.getStatus().state).toBe("open");
    clock.advance(50);
    expect(batches.flat().map((e) => e.kind)).toEqual(["resync"]);
  });

  it("sends no resync on the first connection", () => {
    live.start();
    sockets[0].open();
    clock.advance(100);
    expect(batches).toEqual([]);
  });

  it("resets the backoff only after a connection stayed up", () => {
    live.start();
    sockets[0].drop();
    clock.advance(100);
    sockets[1].drop();
    clock.advance(200);
    // Up and straight down again (e.g. refused after the upgrade): keep backing off.
    sockets[2].open();
    clock.advance(10);
    sockets[2].drop();
    expect(live.getStatus().failures).toBe(3);
    clock.advance(400);
    sockets[3].open();
    clock.advance(3000);
    sockets[3].drop();
    expect(live.getStatus()).toMatchObject({ failures: 1, retryAt: clock.now + 100 });
  });

  it("reconnects at once with a new URL, and stops for good", () => {
    live.start();
    sockets[0].drop();
    url = "ws://h/api/events?access_token=t";
    live.reconnectNow();
    expect(sockets).toHaveLength(2);
    expect(sockets[1].url).toBe(url);
    live.stop();
    expect(sockets[1].closed).toBe(true);
    expect(live.getStatus().state).toBe("stopped");
    clock.advance(60_000);
    expect(sockets).toHaveLength(2);
    // A late close of the dropped socket changes nothing.
    sockets[1].drop();
    expect(live.getStatus().state).toBe("stopped");
  });

  it("reports each state change to status listeners", () => {
    live.start();
    sockets[0].open();
    sockets[0].drop();
    expect(statuses.map((s) => s.state)).toEqual(["connecting", "open", "waiting"]);
  });
});
