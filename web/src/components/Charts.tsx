// Two small SVG charts, drawn by hand: a chart library would weigh more
// than the rest of the dashboard together. Each has a text summary for
// screen readers; the bars have native tooltips.

import { useMemo } from "react";
import { niceMax, totals, type SeriesPoint } from "../charts";
import { formatCount, formatPercent } from "../format";

const W = 600;
const H = 140;
const PAD_L = 34;
const PAD_B = 18;

function timeLabel(t: number): string {
  return new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function Axis({ series, max, unit }: { series: SeriesPoint[]; max: number; unit: (v: number) => string }) {
  const ticks = [0, max / 2, max];
  const plotH = H - PAD_B;
  return (
    <g className="text-zinc-400 dark:text-zinc-500" fontSize="10">
      {ticks.map((v) => {
        const y = plotH - (v / max) * (plotH - 6);
        return (
          <g key={v}>
            <line x1={PAD_L} x2={W} y1={y} y2={y} className="stroke-zinc-200 dark:stroke-zinc-800" strokeWidth="1" />
            <text x={PAD_L - 4} y={y + 3} textAnchor="end" fill="currentColor">
              {unit(v)}
            </text>
          </g>
        );
      })}
      {series.length > 0 && (
        <>
          <text x={PAD_L} y={H - 4} fill="currentColor">
            {timeLabel(series[0].t)}
          </text>
          <text x={W} y={H - 4} textAnchor="end" fill="currentColor">
            {timeLabel(series[series.length - 1].t)}
          </text>
        </>
      )}
    </g>
  );
}

/** ThroughputChart stacks completed (green) and failed (red) tasks per bar. */
export function ThroughputChart({ series, spanLabel }: { series: SeriesPoint[]; spanLabel: string }) {
  const sum = useMemo(() => totals(series), [series]);
  const max = niceMax(sum.peak);
  const plotH = H - PAD_B - 6;
  const bw = (W - PAD_L) / Math.max(1, series.length);
  const summary = `Throughput over the ${spanLabel}: ${formatCount(sum.completed)} completed, ${formatCount(sum.failed)} failed; busiest bar ${formatCount(sum.peak)}.`;
  return (
    <figure className="m-0">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} className="h-auto w-full">
        <Axis series={series} max={max} unit={(v) => formatCount(v)} />
        {series.map((p, i) => {
          const hc = (p.completed / max) * plotH;
          const hf = (p.failed / max) * plotH;
          const x = PAD_L + i * bw + bw * 0.1;
          const base = H - PAD_B;
          return (
            <g key={p.t}>
              <title>{`${timeLabel(p.t)}: ${p.completed} completed, ${p.failed} failed`}</title>
              <rect x={x} width={bw * 0.8} y={base - hc} height={hc} className="fill-emerald-500" />
              <rect x={x} width={bw * 0.8} y={base - hc - hf} height={hf} className="fill-red-500" />
            </g>
          );
        })}
      </svg>
      <figcaption className="flex flex-wrap gap-x-4 gap-y-1 px-1 pt-1 text-xs text-zinc-500 dark:text-zinc-400">
        <span>
          <span aria-hidden className="mr-1 inline-block h-2 w-2 rounded-sm bg-emerald-500" />
          {formatCount(sum.completed)} completed
        </span>
        <span>
          <span aria-hidden className="mr-1 inline-block h-2 w-2 rounded-sm bg-red-500" />
          {formatCount(sum.failed)} failed attempts
        </span>
      </figcaption>
    </figure>
  );
}

/** FailureRateChart draws failed / finished per bar as a line; bars where nothing finished leave a gap. */
export function FailureRateChart({ series, spanLabel }: { series: SeriesPoint[]; spanLabel: string }) {
  const sum = useMemo(() => totals(series), [series]);
  const plotH = H - PAD_B - 6;
  const bw = (W - PAD_L) / Math.max(1, series.length);
  const segments: string[] = [];
  let cur = "";
  series.forEach((p, i) => {
    const n = p.completed + p.failed;
    if (n === 0) {
      if (cur) segments.push(cur);
      cur = "";
      return;
    }
    const x = PAD_L + i * bw + bw / 2;
    const y = H - PAD_B - (p.failed / n) * plotH;
    cur += `${cur ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (cur) segments.push(cur);
  const summary = `Failure rate over the ${spanLabel}: ${formatPercent(sum.failureRate)} of ${formatCount(sum.completed + sum.failed)} finished attempts.`;
  return (
    <figure className="m-0">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} className="h-auto w-full">
        <Axis series={series} max={1} unit={(v) => formatPercent(v)} />
        {segments.map((d) => (
          <path key={d} d={d} className="fill-none stroke-red-500" strokeWidth="2" strokeLinejoin="round" />
        ))}
        {series.map((p, i) => {
          const n = p.completed + p.failed;
          if (n === 0) return null;
          return (
            <circle key={p.t} cx={PAD_L + i * bw + bw / 2} cy={H - PAD_B - (p.failed / n) * plotH} r="2.5" className="fill-red-500">
              <title>{`${timeLabel(p.t)}: ${formatPercent(p.failed / n)} of ${n} failed`}</title>
            </circle>
          );
        })}
      </svg>
      <figcaption className="px-1 pt-1 text-xs text-zinc-500 dark:text-zinc-400">
        {Number.isNaN(sum.failureRate) ? "nothing finished in this span" : `${formatPercent(sum.failureRate)} of attempts failed`}
      </figcaption>
    </figure>
  );
}

/** CountsBar is a one-line strip of a queue's tasks by state. */
export function CountsBar({ counts, label }: { counts: Partial<Record<string, number>>; label: string }) {
  const order = ["processing", "pending", "scheduled", "retrying", "failed", "completed", "canceled"];
  const colors: Record<string, string> = {
    pending: "bg-sky-500",
    scheduled: "bg-violet-500",
    processing: "bg-amber-500",
    retrying: "bg-orange-500",
    completed: "bg-emerald-500",
    failed: "bg-red-500",
    canceled: "bg-zinc-400",
  };
  const total = order.reduce((s, k) => s + (counts[k] ?? 0), 0);
  return (
    <div role="img" aria-label={label} className="flex h-2 w-full overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800">
      {total > 0 &&
        order.map((k) =>
          counts[k] ? <div key={k} className={colors[k]} style={{ width: `${((counts[k] ?? 0) / total) * 100}%` }} title={`${k}: ${counts[k]}`} /> : null,
        )}
    </div>
  );
}
