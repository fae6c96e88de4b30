import { Fragment, useState } from "react";
import { api, ApiError } from "../api/client";
import { STATES, type QueueInfo } from "../api/types";
import { CountsBar } from "../components/Charts";
import { ConfirmButton } from "../components/ConfirmButton";
import { HistoryCharts } from "../components/HistoryCharts";
import { ServiceWarning } from "../components/ServiceWarning";
import { useToast } from "../components/toast";
import { Empty, ErrorNote, PageHeader, Section, Spinner } from "../components/ui";
import { formatCount, formatDuration, formatPercent, since } from "../format";
import { useInterval, useNow, useResource, useThrottled } from "../hooks";
import { useLiveEvents } from "../live/LiveContext";
import { hasServiceGap, isEmptyQueue, serviceGap } from "../queueService";
import { Link } from "../router";

const ROW_BORDER = "border-b border-zinc-100 last:border-0 dark:border-zinc-800/60";

/** useQueues is the queue list, reloaded (at most every 1.5 s) when tasks or queues change. */
export function useQueues() {
  const queues = useResource((s) => api.listQueues(s), []);
  const reload = useThrottled(queues.reload, 1500);
  useLiveEvents((evs) => {
    if (evs.some((e) => e.kind === "resync" || e.kind === "queue_update" || e.kind === "task_update")) reload();
  });
  useInterval(queues.reload, 15_000);
  return queues;
}

export function PauseButton({ q, onChanged }: { q: QueueInfo; onChanged: (paused: boolean) => void }) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  async function toggle() {
    setBusy(true);
    try {
      if (q.paused) await api.resumeQueue(q.name);
      else await api.pauseQueue(q.name);
      onChanged(!q.paused);
      toast(`Queue ${q.name} ${q.paused ? "resumed" : "paused"}`);
    } catch (e) {
      toast((e as Error).message, "error");
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" className="btn btn-sm" disabled={busy} onClick={toggle} aria-label={`${q.paused ? "Resume" : "Pause"} queue ${q.name}`}>
      {q.paused ? "Resume" : "Pause"}
    </button>
  );
}

/**
 * DeleteQueueButton forgets an empty queue, after a second press. The
 * server refuses a queue that still holds tasks (409 queue_not_empty, say
 * a task arrived since the list loaded); its message is shown and the list
 * reloaded, so the new task appears.
 */
export function DeleteQueueButton({ q, onDeleted, onRefused }: { q: QueueInfo; onDeleted: () => void; onRefused: () => void }) {
  const toast = useToast();
  async function remove() {
    try {
      await api.deleteQueue(q.name);
      toast(`Queue ${q.name} deleted`);
      onDeleted();
    } catch (e) {
      const conflict = e instanceof ApiError && e.code === "queue_not_empty";
      toast(conflict ? `Queue ${q.name} was not deleted: ${e.message}` : (e as Error).message, "error");
      if (conflict) onRefused();
    }
  }
  return (
    <ConfirmButton className="btn btn-sm btn-danger" onConfirm={remove} ariaLabel={`Delete queue ${q.name}`} confirmLabel={`Really delete queue ${q.name}?`}>
      Delete
    </ConfirmButton>
  );
}

function oldestPending(q: QueueInfo, now: number): string {
  if (!q.oldest_pending_at || !(q.counts.pending ?? 0)) return "–";
  return formatDuration(Math.max(0, since(q.oldest_pending_at, now)));
}

export function QueuesPage() {
  const queues = useQueues();
  const now = useNow(1000);
  const [chartQueue, setChartQueue] = useState("");
  const list = queues.data;
  const hasStats = (list ?? []).some((q) => typeof q.throughput_per_min === "number");

  function setPaused(name: string, paused: boolean) {
    queues.set((qs) => qs?.map((q) => (q.name === name ? { ...q, paused } : q)));
  }

  function removeQueue(name: string) {
    queues.set((qs) => qs?.filter((q) => q.name !== name));
    if (chartQueue === name) setChartQueue("");
  }

  return (
    <div>
      <PageHeader title="Queues" subtitle="Tasks per queue and state, how long the oldest pending task has waited, which waiting work no live worker runs, and what finished over time. A queue that holds no tasks can be deleted." />
      <ErrorNote error={queues.error} title="Could not load queues" />
      <Section title="Queues">
        {!list ? (
          <div className="px-4 py-8 text-center">
            <Spinner label="Loading queues" />
          </div>
        ) : list.length === 0 ? (
          <Empty>No queues yet: a queue appears with its first task.</Empty>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full min-w-[52rem] border-collapse text-sm" data-testid="queue-table">
              <caption className="sr-only">Queues with their tasks by state</caption>
              <thead className="border-b border-zinc-200 dark:border-zinc-800">
                <tr>
                  <th scope="col" className="th">
                    Queue
                  </th>
                  {STATES.map((s) => (
                    <th key={s} scope="col" className="th px-2 text-right">
                      {s}
                    </th>
                  ))}
                  <th scope="col" className="th text-right" title="How long the oldest pending task has waited">
                    Oldest pending
                  </th>
                  {hasStats && (
                    <th scope="col" className="th text-right" title={`Finished attempts per minute and the share that failed, over the last ${list?.[0]?.window_minutes ?? ""} minutes`}>
                      Per minute
                    </th>
                  )}
                  <th scope="col" className="th">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((q) => (
                  <Fragment key={q.name}>
                    <tr data-queue={q.name} data-paused={q.paused} className={hasServiceGap(serviceGap(q)) ? "" : ROW_BORDER}>
                      <th scope="row" className="td text-left font-medium">
                        <div className="flex items-center gap-2">
                          <Link className="link" href={`/tasks?queue=${encodeURIComponent(q.name)}`}>
                            {q.name}
                          </Link>
                          {q.paused && (
                            <span data-testid="paused-badge" className="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900 dark:bg-amber-950 dark:text-amber-300">
                              paused
                            </span>
                          )}
                        </div>
                        <div className="mt-1.5 w-28">
                          <CountsBar counts={q.counts} label={`Tasks of ${q.name} by state`} />
                        </div>
                      </th>
                      {STATES.map((s) => (
                        <td key={s} className={`td px-2 text-right tabular-nums ${q.counts[s] ? "" : "text-zinc-400"}`}>
                          {q.counts[s] ? (
                            <Link className="hover:underline" href={`/tasks?queue=${encodeURIComponent(q.name)}&state=${s}`} aria-label={`${q.counts[s]} ${s} in ${q.name}`}>
                              {formatCount(q.counts[s])}
                            </Link>
                          ) : (
                            0
                          )}
                        </td>
                      ))}
                      <td className="td text-right tabular-nums">{oldestPending(q, now)}</td>
                      {hasStats && (
                        <td className="td text-right text-xs whitespace-nowrap tabular-nums">
                          {(q.throughput_per_min ?? 0).toFixed(1)}
                          <div className={(q.failure_rate ?? 0) > 0 ? "text-red-600 dark:text-red-400" : "text-zinc-500"}>{formatPercent(q.failure_rate ?? 0)} failed</div>
                        </td>
                      )}
                      <td className="td text-right">
                        <div className="flex justify-end gap-1.5">
                          <PauseButton q={q} onChanged={(p) => setPaused(q.name, p)} />
                          {isEmptyQueue(q) && <DeleteQueueButton q={q} onDeleted={() => removeQueue(q.name)} onRefused={queues.reload} />}
                        </div>
                      </td>
                    </tr>
                    {hasServiceGap(serviceGap(q)) && (
                      <tr data-queue-warning={q.name} className={ROW_BORDER}>
                        <td colSpan={STATES.length + (hasStats ? 4 : 3)} className="px-4 pb-3">
                          <ServiceWarning q={q} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section
        title="Throughput and failures"
        actions={
          <>
            <label htmlFor="chart-queue" className="text-xs text-zinc-500">
              Queue
            </label>
            <select id="chart-queue" className="input w-40 py-1" value={chartQueue} onChange={(e) => setChartQueue(e.target.value)}>
              <option value="">all queues</option>
              {(list ?? []).map((q) => (
                <option key={q.name} value={q.name}>
                  {q.name}
                </option>
              ))}
            </select>
          </>
        }
      >
        <HistoryCharts queue={chartQueue} idPrefix="queues" />
      </Section>
    </div>
  );
}
