// LiveSocket keeps one WebSocket to /api/events open for the whole app:
// it reconnects by itself with backoff, tells listeners when it comes back
// after a gap (a synthetic "resync": whatever they show may be stale), and
// hands events over in small batches so that a flood of updates costs a
// few renders, not thousands.

import type { LiveEvent } from "../api/types";
import { backoffDelay, type BackoffOptions } from "./backoff";

/** The part of the browser's WebSocket that LiveSocket uses; tests pass a fake. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export type LiveState = "connecting" | "open" | "waiting" | "stopped";

export interface LiveStatus {
  state: LiveState;
  /** failed connection attempts since the last stable connection */
  failures: number;
  /** when state is "waiting": the time (ms since epoch) of the next attempt */
  retryAt?: number;
}

export interface LiveSocketOptions {
  url: () => string;
  create?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  /** how long events are gathered before listeners get them (default 50 ms) */
  batchMs?: number;
  /** a batch larger than this becomes one resync (default 1000) */
  maxBatch?: number;
  /** a connection open this long resets the backoff (default 3000 ms) */
  stableMs?: number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

type EventsListener = (events: LiveEvent[]) => void;
type StatusListener = (s: LiveStatus) => void;

export class LiveSocket {
  private opts: Required<Omit<LiveSocketOptions, "backoff">> & { backoff: BackoffOptions };
  private ws: SocketLike | null = null;
  private status: LiveStatus = { state: "stopped", failures: 0 };
  private everOpened = false;
  private openedAt = 0;
  private retryTimer: unknown = null;
  private flushTimer: unknown = null;
  private pending: LiveEvent[] = [];
  private eventListeners = new Set<EventsListener>();
  private statusListeners = new Set<StatusListener>();

  constructor(opts: LiveSocketOptions) {
    this.opts = {
      create: (url) => new WebSocket(url) as unknown as SocketLike,
      batchMs: 50,
      maxBatch: 1000,
      stableMs: 3000,
      now: () => Date.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      backoff: {},
      ...opts,
    };
  }

  getStatus(): LiveStatus {
    return this.status;
  }

  onEvents(fn: EventsListener): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  onStatus(fn: StatusListener): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** start opens the connection; it is kept open until stop. */
  start(): void {
    if (this.status.state !== "stopped") return;
    this.connect();
  }

  stop(): void {
    this.clearRetry();
    this.detach();
    this.setStatus({ state: "stopped", failures: 0 });
  }

  /** reconnectNow drops the current connection or wait and connects at once (a new token, the network is back). */
  reconnectNow(): void {
    if (this.status.state === "stopped") return;
    this.clearRetry();
    this.detach();
    this.connect();
  }

  private connect(): void {
    this.setStatus({ state: "connecting", failures: this.status.failures });
    let ws: SocketLike;
    try {
      ws = this.opts.create(this.opts.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.openedAt = this.opts.now();
      const reopened = this.everOpened;
      this.everOpened = true;
      this.setStatus({ state: "open", failures: this.status.failures });
      // Events sent while we were away are lost: whoever shows data reloads it.
      if (reopened) this.push({ kind: "resync", at: new Date(this.openedAt).toISOString() });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== "string") return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(ev.data);
      } catch {
        return; // not ours; ignore rather than tear the connection down
      }
      if (parsed && typeof parsed === "object" && typeof (parsed as LiveEvent).kind === "string") {
        this.push(parsed as LiveEvent);
      }
    };
    ws.onerror = () => {
      /* onclose follows and decides */
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      const wasStable = this.status.state === "open" && this.opts.now() - this.openedAt >= this.opts.stableMs;
      if (wasStable) this.status = { ...this.status, failures: 0 };
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const failures = this.status.failures;
    const delay = backoffDelay(failures, this.opts.backoff);
    const retryAt = this.opts.now() + delay;
    this.setStatus({ state: "waiting", failures: failures + 1, retryAt });
    this.retryTimer = this.opts.setTimer(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      this.opts.clearTimer(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private detach(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, "reconnecting");
      } catch {
        /* already closed */
      }
    }
  }

  private push(e: LiveEvent): void {
    this.pending.push(e);
    if (this.flushTimer === null) {
      this.flushTimer = this.opts.setTimer(() => this.flush(), this.opts.batchMs);
    }
  }

  private flush(): void {
    this.flushTimer = null;
    let batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    // A flood (bulk submit, a big retry) is cheaper to reload than to replay.
    if (batch.length > this.opts.maxBatch) batch = [{ kind: "resync", at: new Date(this.opts.now()).toISOString() }];
    for (const fn of this.eventListeners) {
      try {
        fn(batch);
      } catch (err) {
        console.error("live event listener failed", err);
      }
    }
  }

  private setStatus(s: LiveStatus): void {
    this.status = s;
    for (const fn of this.statusListeners) fn(s);
  }
}
