import { api } from "../api/client";
import { STATES } from "../api/types";
import { CountsBar } from "../components/Charts";
import { HistoryCharts } from "../components/HistoryCharts";
import { Empty, ErrorNote, PageHeader, Section, Stat } from "../components/ui";
import { formatCount, formatDuration, since } from "../format";
import { useInterval, useNow, useResource } from "../hooks";
import { useLiveStatus } from "../live/LiveContext";
import { Link } from "../router";
import { PauseButton, useQueues } from "./Queues";
import { STALE_HEARTBEAT_MS, heartbeatAge, useWorkers } from "./Workers";

function useHealth() {
  const health = useResource(async (s) => {
    const [live, ready] = await Promise.allSettled([api.health(s), api.ready(s)]);
    return {
      live: live.status === "fulfilled",
      ready: ready.status === "fulfilled",
      reason: ready.status === "rejected" ? (ready.reason as Error).message : "",
    };
  }, []);
  useInterval(health.reload, 10_000);
  return health;
}

export function OverviewPage() {
  const queues = useQueues();
  const workers = useWorkers();
  const health = useHealth();
  const live = useLiveStatus();
  const now = useNow(1000);

  const totals: Record<string, number> = {};
  for (const q of queues.data ?? []) for (const s of STATES) totals[s] = (totals[s] ?? 0) + (q.counts[s] ?? 0);
  const backlog = (totals.pending ?? 0) + (totals.scheduled ?? 0) + (totals.retrying ?? 0);
  const oldest = (queues.data ?? []).reduce((m, q) => (q.oldest_pending_at && (q.counts.pending ?? 0) > 0 ? Math.max(m, since(q.oldest_pending_at, now)) : m), 0);
  const ws = workers.data ?? [];
  const slots = ws.reduce((s, w) => s + w.concurrency, 0);
  const busy = ws.reduce((s, w) => s + (w.running?.length ?? 0), 0);
  const pausedCount = (queues.data ?? []).filter((q) => q.paused).length;
  const loaded = queues.data !== undefined;

  return (
    <div>
      <PageHeader title="Overview" subtitle="The whole system at a glance; every number here updates live." />
      <ErrorNote error={queues.error} title="Could not load queues" />
      <dl className="mb-5 grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6" data-testid="overview-stats">
        <Stat label="Processing" value={loaded ? formatCount(totals.processing) : "…"} hint={`${busy} of ${slots} worker slots busy`} />
        <Stat label="Waiting" value={loaded ? formatCount(backlog) : "…"} hint={oldest > 0 ? `oldest pending for ${formatDuration(oldest)}` : `${formatCount(totals.pending)} pending, ${formatCount((totals.scheduled ?? 0) + (totals.retrying ?? 0))} later`} />
        <Stat label="Completed" value={loaded ? formatCount(totals.completed) : "…"} tone="good" />
        <Stat label="Dead letters" value={loaded ? formatCount(totals.failed) : "…"} tone={(totals.failed ?? 0) > 0 ? "bad" : undefined} hint={<Link className="link" href="/dead-letters">review</Link>} />
        <Stat label="Workers" value={workers.data ? ws.length : "…"} hint={ws.some((w) => heartbeatAge(w, now) > STALE_HEARTBEAT_MS) ? "some heartbeats are late" : "all heartbeats on time"} />
        <Stat
          label="Health"
          value={
            <span data-testid="health" className={health.data?.ready ? "text-emerald-600 dark:text-emerald-400" : health.data ? "text-red-600 dark:text-red-400" : ""}>
              {!health.data ? "…" : health.data.ready ? "Ready" : health.data.live ? "Degraded" : "Down"}
            </span>
          }
          hint={health.data?.reason || (live.state === "open" ? "live updates on" : "live updates off")}
        />
      </dl>
      <Section title="Throughput, all queues">
        <HistoryCharts idPrefix="overview" />
      </Section>
      <div className="grid gap-x-5 xl:grid-cols-2">
        <Section title="Queues" actions={<Link className="link text-xs" href="/queues">all queue details</Link>}>
          {!queues.data ? null : queues.data.length === 0 ? (
            <Empty>
              No queues yet. <Link className="link" href="/submit">Submit a task</Link> to start one.
            </Empty>
          ) : (
            <ul className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {queues.data.map((q) => (
                <li key={q.name} className="flex items-center gap-3 px-4 py-2.5">
                  <div className="w-32 min-w-0 shrink-0">
                    <Link className="link block truncate text-sm font-medium" href={`/tasks?queue=${encodeURIComponent(q.name)}`}>
                      {q.name}
                    </Link>
                    <span className="text-xs text-zinc-500">{q.paused ? "paused" : `${formatCount(q.counts.pending)} pending`}</span>
                  </div>
                  <div className="min-w-0 flex-1">
                    <CountsBar counts={q.counts} label={`Tasks of ${q.name} by state`} />
                  </div>
                  <PauseButton q={q} onChanged={() => queues.reload()} />
                </li>
              ))}
            </ul>
          )}
          {pausedCount > 0 && <p className="border-t border-zinc-100 px-4 py-2 text-xs text-amber-700 dark:border-zinc-800 dark:text-amber-400">{pausedCount} paused</p>}
        </Section>
        <Section title="Workers" actions={<Link className="link text-xs" href="/workers">manage workers</Link>}>
          {!workers.data ? null : ws.length === 0 ? (
            <Empty>
              No live workers. <Link className="link" href="/workers">Start one</Link>.
            </Empty>
          ) : (
            <ul className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {ws.map((w) => {
                const age = heartbeatAge(w, now);
                return (
                  <li key={w.id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-2.5 text-sm">
                    <span className="mono min-w-0 truncate text-xs" title={w.id}>
                      {w.host} · {w.id.slice(-10)}
                    </span>
                    <span className="text-xs text-zinc-500 tabular-nums">
                      {w.running?.length ?? 0}/{w.concurrency} busy ·{" "}
                      <span className={age > STALE_HEARTBEAT_MS ? "text-red-600" : ""}>heartbeat {formatDuration(age)} ago</span>
                      {w.stopping && " · draining"}
                    </span>
                  </li>
                );
              })}
            </ul>
          )}
        </Section>
      </div>
    </div>
  );
}
