import { useState } from "react";
import { api, ApiError } from "../api/client";
import type { WorkerInfo } from "../api/types";
import { ConfirmButton } from "../components/ConfirmButton";
import { useToast } from "../components/toast";
import { Empty, ErrorNote, PageHeader, Section, Spinner } from "../components/ui";
import { formatDuration, shortId, since } from "../format";
import { useInterval, useNow, useResource, useThrottled } from "../hooks";
import { useLiveEvents } from "../live/LiveContext";
import { Link } from "../router";

/** A heartbeat older than this is shown as late: the worker may be gone. */
export const STALE_HEARTBEAT_MS = 15_000;

/** useWorkers is the live worker list: reloaded on worker events, and every few seconds for heartbeats (which send no event). */
export function useWorkers() {
  const workers = useResource((s) => api.listWorkers(s), []);
  const reload = useThrottled(workers.reload, 1000);
  useLiveEvents((evs) => {
    if (evs.some((e) => e.kind === "resync" || e.kind === "worker_update")) reload();
  });
  useInterval(workers.reload, 5000);
  return workers;
}

/** parseQueueWeights reads "a=3, b=1" (or "a, b": weight 1) into {a:3, b:1}. */
export function parseQueueWeights(text: string): { queues?: Record<string, number>; error?: string } {
  const out: Record<string, number> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, w = "1", extra] = part.split("=").map((s) => s.trim());
    if (extra !== undefined || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) return { error: `"${part}" is not queue=weight` };
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1 || n > 1000) return { error: `the weight of ${name} must be a whole number from 1 to 1000` };
    out[name] = n;
  }
  return { queues: Object.keys(out).length ? out : undefined };
}

function StartWorkerForm({ onStarted }: { onStarted: (w: WorkerInfo) => void }) {
  const toast = useToast();
  const [concurrency, setConcurrency] = useState("2");
  const [queues, setQueues] = useState("");
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const c = Number(concurrency);
    if (!Number.isInteger(c) || c < 1 || c > 1000) return setError({ field: "concurrency", message: "Concurrency must be a whole number from 1 to 1000" });
    const q = parseQueueWeights(queues);
    if (q.error) return setError({ field: "queues", message: "Queues: " + q.error });
    setBusy(true);
    try {
      const w = await api.startWorker(c, q.queues);
      toast(`Started worker ${shortId(w.id)} with ${c} slot${c === 1 ? "" : "s"}`);
      onStarted(w);
    } catch (err) {
      const msg = err instanceof ApiError && err.code === "no_local_workers" ? "This server does not run in-process workers; start `taskmill worker` processes instead." : (err as Error).message;
      setError({ field: err instanceof ApiError ? err.field : undefined, message: msg });
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} className="flex flex-wrap items-end gap-3 px-4 py-3" aria-label="Start in-process worker">
      <div className="w-28">
        <label htmlFor="w-concurrency" className="label">
          Concurrency
        </label>
        <input
          id="w-concurrency"
          type="number"
          min={1}
          max={1000}
          className="input"
          value={concurrency}
          onChange={(e) => setConcurrency(e.target.value)}
          aria-invalid={error?.field === "concurrency" || undefined}
        />
      </div>
      <div className="min-w-48 flex-1">
        <label htmlFor="w-queues" className="label">
          Queues with weights
        </label>
        <input
          id="w-queues"
          className="input"
          placeholder="the server's default queues; or e.g. default=3, emails=1"
          value={queues}
          onChange={(e) => setQueues(e.target.value)}
          aria-invalid={error?.field?.startsWith("queues") || undefined}
        />
      </div>
      <button type="submit" className="btn btn-primary" disabled={busy}>
        {busy ? "Starting…" : "Start worker"}
      </button>
      {error && (
        <p role="alert" className="field-error w-full">
          {error.message}
        </p>
      )}
    </form>
  );
}

export function heartbeatAge(w: WorkerInfo, now: number): number {
  return Math.max(0, since(w.last_heartbeat, now));
}

export function WorkersPage() {
  const workers = useWorkers();
  const toast = useToast();
  const now = useNow(1000);
  const list = workers.data;
  const slots = (list ?? []).reduce((s, w) => s + w.concurrency, 0);
  const busy = (list ?? []).reduce((s, w) => s + (w.running?.length ?? 0), 0);

  async function stop(w: WorkerInfo) {
    try {
      await api.stopWorker(w.id);
      workers.set((ws) => ws?.map((x) => (x.id === w.id ? { ...x, stopping: true } : x)));
      toast(`Worker ${shortId(w.id)} is draining; it stops after its running tasks`);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }

  return (
    <div>
      <PageHeader title="Workers" subtitle={list ? `${list.length} live, ${busy} of ${slots} slots busy` : "Live worker processes and their heartbeats."} />
      <ErrorNote error={workers.error} title="Could not load workers" />
      <Section title="Start in-process workers">
        <StartWorkerForm onStarted={() => workers.reload()} />
      </Section>
      <Section title="Live workers">
        {!list ? (
          <div className="px-4 py-8 text-center">
            <Spinner label="Loading workers" />
          </div>
        ) : list.length === 0 ? (
          <Empty>No live workers. Start one above, or run `taskmill worker`.</Empty>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full min-w-[52rem] border-collapse text-sm" data-testid="worker-table">
              <caption className="sr-only">Live workers</caption>
              <thead className="border-b border-zinc-200 dark:border-zinc-800">
                <tr>
                  <th scope="col" className="th">
                    Worker
                  </th>
                  <th scope="col" className="th">
                    Host
                  </th>
                  <th scope="col" className="th">
                    Queues
                  </th>
                  <th scope="col" className="th text-right">
                    Busy
                  </th>
                  <th scope="col" className="th">
                    Running
                  </th>
                  <th scope="col" className="th text-right">
                    Heartbeat
                  </th>
                  <th scope="col" className="th text-right">
                    Up for
                  </th>
                  <th scope="col" className="th">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((w) => {
                  const age = heartbeatAge(w, now);
                  const running = w.running ?? [];
                  return (
                    <tr key={w.id} data-worker-id={w.id} data-stopping={w.stopping} className="border-b border-zinc-100 align-top last:border-0 dark:border-zinc-800/60">
                      <td className="td">
                        <div className="mono text-xs break-all">{w.id}</div>
                        {w.stopping && (
                          <span className="mt-1 inline-block rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900 dark:bg-amber-950 dark:text-amber-300">
                            draining
                          </span>
                        )}
                      </td>
                      <td className="td text-xs">
                        {w.host}
                        <div className="text-zinc-500">pid {w.pid}</div>
                      </td>
                      <td className="td text-xs">{(w.queues ?? []).join(", ") || "–"}</td>
                      <td className="td text-right tabular-nums">
                        {running.length}/{w.concurrency}
                      </td>
                      <td className="td text-xs">
                        {running.length === 0 ? (
                          <span className="text-zinc-400">idle</span>
                        ) : (
                          <ul className="space-y-0.5">
                            {running.slice(0, 5).map((id) => (
                              <li key={id}>
                                <Link className="link mono" href={`/tasks/${encodeURIComponent(id)}`}>
                                  {shortId(id)}
                                </Link>
                              </li>
                            ))}
                            {running.length > 5 && <li className="text-zinc-500">and {running.length - 5} more</li>}
                          </ul>
                        )}
                      </td>
                      <td className={`td text-right text-xs tabular-nums ${age > STALE_HEARTBEAT_MS ? "font-medium text-red-600 dark:text-red-400" : ""}`}>
                        {age < 1000 ? "just now" : `${formatDuration(age)} ago`}
                        {age > STALE_HEARTBEAT_MS && <div>late</div>}
                      </td>
                      <td className="td text-right text-xs tabular-nums">{formatDuration(Math.max(0, since(w.started_at, now)))}</td>
                      <td className="td text-right">
                        <ConfirmButton
                          className="btn btn-sm btn-danger"
                          disabled={w.stopping}
                          onConfirm={() => stop(w)}
                          confirmLabel="Really stop?"
                          ariaLabel={`Drain and stop worker ${w.id}`}
                        >
                          {w.stopping ? "Stopping" : "Stop"}
                        </ConfirmButton>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}
