// Throughput and failure-rate charts over /api/history, with a span
// picker. Shared by the Overview (all queues) and Queues pages.

import { useMemo, useState } from "react";
import { api } from "../api/client";
import { bucketSeries } from "../charts";
import { useInterval, useResource, useThrottled } from "../hooks";
import { useLiveEvents } from "../live/LiveContext";
import { FailureRateChart, ThroughputChart } from "./Charts";
import { ErrorNote } from "./ui";

const SPANS = [
  { minutes: 60, label: "last hour" },
  { minutes: 360, label: "last 6 hours" },
  { minutes: 1440, label: "last 24 hours" },
];

export function HistoryCharts({ queue, showFailureRate = true, idPrefix }: { queue?: string; showFailureRate?: boolean; idPrefix: string }) {
  const [minutes, setMinutes] = useState(60);
  const hist = useResource((s) => api.history(queue || undefined, minutes, s), [queue, minutes]);
  const reload = useThrottled(hist.reload, 5000);
  useLiveEvents((evs) => {
    if (evs.some((e) => e.kind === "resync" || (e.kind === "task_update" && (e.task?.state === "completed" || e.task?.state === "failed" || e.task?.state === "retrying"))))
      reload();
  });
  useInterval(hist.reload, 30_000);
  // The series is laid out at the time of the last answer, so the chart
  // moves when data does, not on every clock tick.
  const series = useMemo(() => bucketSeries(hist.data ?? [], minutes, Date.now()), [hist.data, minutes]);
  const span = SPANS.find((s) => s.minutes === minutes)!;
  return (
    <div className="px-4 py-3">
      <div className="mb-2 flex flex-wrap items-center justify-end gap-2">
        <label htmlFor={`${idPrefix}-span`} className="text-xs text-zinc-500">
          Span
        </label>
        <select id={`${idPrefix}-span`} className="input w-36 py-1" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
          {SPANS.map((s) => (
            <option key={s.minutes} value={s.minutes}>
              {s.label}
            </option>
          ))}
        </select>
      </div>
      <ErrorNote error={hist.error} title="Could not load history" />
      <div className={`grid gap-4 ${showFailureRate ? "lg:grid-cols-2" : ""}`}>
        <div>
          <h3 className="mb-1 text-xs font-medium text-zinc-500">Throughput per {minutes > 60 ? `${Math.ceil(minutes / 60)} minutes` : "minute"}</h3>
          <ThroughputChart series={series} spanLabel={span.label} />
        </div>
        {showFailureRate && (
          <div>
            <h3 className="mb-1 text-xs font-medium text-zinc-500">Failure rate</h3>
            <FailureRateChart series={series} spanLabel={span.label} />
          </div>
        )}
      </div>
    </div>
  );
}
