// Turning /api/history's per-minute buckets into evenly spaced series for
// the charts: minutes without a bucket count as zero, and long ranges are
// summed into at most maxBars bars so a day stays readable and cheap.

import type { HistoryBucket } from "./api/types";

export interface SeriesPoint {
  /** start of the span, ms since epoch */
  t: number;
  completed: number;
  failed: number;
}

const MINUTE = 60_000;

export function bucketSeries(buckets: HistoryBucket[], minutes: number, now: number, maxBars = 60): SeriesPoint[] {
  const end = Math.floor(now / MINUTE) * MINUTE; // the current minute's start
  const start = end - (minutes - 1) * MINUTE;
  const per = Math.max(1, Math.ceil(minutes / maxBars));
  const bars = Math.ceil(minutes / per);
  const out: SeriesPoint[] = [];
  for (let i = 0; i < bars; i++) out.push({ t: start + i * per * MINUTE, completed: 0, failed: 0 });
  for (const b of buckets) {
    const t = Date.parse(b.minute);
    if (Number.isNaN(t)) continue;
    const i = Math.floor((Math.floor(t / MINUTE) * MINUTE - start) / MINUTE / per);
    if (i < 0 || i >= bars) continue;
    out[i].completed += b.completed || 0;
    out[i].failed += b.failed || 0;
  }
  return out;
}

export interface SeriesTotals {
  completed: number;
  failed: number;
  /** failed / (completed + failed); NaN when nothing finished */
  failureRate: number;
  /** the busiest bar's completed + failed */
  peak: number;
}

export function totals(series: SeriesPoint[]): SeriesTotals {
  let completed = 0;
  let failed = 0;
  let peak = 0;
  for (const p of series) {
    completed += p.completed;
    failed += p.failed;
    peak = Math.max(peak, p.completed + p.failed);
  }
  return { completed, failed, failureRate: completed + failed > 0 ? failed / (completed + failed) : NaN, peak };
}

/** niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten, so gridlines land on round numbers. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
