// Reconnect delays: exponential with jitter, so that a restarted server is
// not hit by every open dashboard at the same instant.

export interface BackoffOptions {
  /** delay before the first retry, in ms (default 500) */
  initialMs?: number;
  /** growth per failed attempt (default 2) */
  factor?: number;
  /** longest delay, in ms (default 15000) */
  maxMs?: number;
  /** share of the delay that is random, 0–1 (default 0.5: between half and the full delay) */
  jitter?: number;
  random?: () => number;
}

/** backoffDelay returns how long to wait before retry number attempt (0 for the first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 500;
  const factor = opts.factor ?? 2;
  const max = opts.maxMs ?? 15_000;
  const jitter = Math.min(Math.max(opts.jitter ?? 0.5, 0), 1);
  const random = opts.random ?? Math.random;
  const n = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  const base = Math.min(max, initial * Math.pow(factor, Math.min(n, 64)));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}
