import { api } from "../api/client";
import { STATES, type LinkInfo, type ServerInfo } from "../api/types";
import { CountsBar } from "../components/Charts";
import { HistoryCharts } from "../components/HistoryCharts";
import { ServiceWarning } from "../components/ServiceWarning";
import { Empty, ErrorNote, PageHeader, Section, Stat } from "../components/ui";
import { formatCount, formatDuration, since } from "../format";
import { useInterval, useNow, useResource } from "../hooks";
import { useLiveStatus } from "../live/LiveContext";
import { hasServiceGap, serviceGap } from "../queueService";
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

const LINK_STYLE: Record<string, string> = {
  up: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300",
  connecting: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300",
  down: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-300",
};

/** LinkChip shows one link of the server to another system (an AMQP broker) and its state. */
export function LinkChip({ link }: { link: LinkInfo }) {
  return (
    <span
      data-testid="link-chip"
      data-state={link.state}
      title={link.detail || undefined}
      className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${LINK_STYLE[link.state] ?? LINK_STYLE.down}`}
    >
      {link.name}: {link.state}
      {link.required && link.state !== "up" ? " (required)" : ""}
    </span>
  );
}

/** ServerPanel says which server this is and where its data lives. */
function ServerPanel({ info }: { info: ServerInfo }) {
  return (
    <Section title="This server">
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 px-4 py-3 text-sm" data-testid="server-info">
        <dt className="text-zinc-500">Version</dt>
        <dd>
          <span className="mono text-xs">{info.version}</span> <span className="text-xs text-zinc-500">(commit {info.commit.slice(0, 12)}, {info.go_version})</span>
        </dd>
        <dt className="text-zinc-500">Backend</dt>
        <dd>{info.backend || "–"}</dd>
        {info.data_dir && (
          <>
            <dt className="text-zinc-500">Data folder</dt>
            <dd className="mono text-xs break-all" data-testid="data-dir">
              {info.data_dir}
            </dd>
          </>
        )}
        {info.files_dir && (
          <>
            <dt className="text-zinc-500">Files folder</dt>
            <dd className="mono text-xs break-all" data-testid="files-dir">
              {info.files_dir} <span className="font-sans text-zinc-500">— what file-based tasks read and write</span>
            </dd>
          </>
        )}
        <dt className="text-zinc-500">Links</dt>
        <dd className="flex flex-wrap gap-1.5">{info.links.length ? info.links.map((l) => <LinkChip key={l.name} link={l} />) : <span className="text-xs text-zinc-500">none</span>}</dd>
      </dl>
    </Section>
  );
}

export function OverviewPage() {
  const queues = useQueues();
  const workers = useWorkers();
  const health = useHealth();
  const info = useResource((sig) => api.info(sig), []);
  useInterval(info.reload, 10_000); // the links' states change
  const live = useLiveStatus();
  const now = useNow(1000);

  const totals: Record<string, number> = {};
  for (const q of queues.data ?? []) for (const s of STATES) totals[s] = (totals[s] ?? 0) + (q.counts[s] ?? 0);
  const oldest = (queues.data ?? []).reduce((m, q) => (q.oldest_pending_at && (q.counts.pending ?? 0) > 0 ? Math.max(m, since(q.oldest_pending_at, now)) : m), 0);
  const ws = workers.data ?? [];
  const slots = ws.reduce((s, w) => s + w.concurrency, 0);
  const busy = ws.reduce((s, w) => s + (w.running?.length ?? 0), 0);
  const pausedCount = (queues.data ?? []).filter((q) => q.paused).length;
  const gapCount = (queues.data ?? []).filter((q) => hasServiceGap(serviceGap(q))).length;
  const loaded = queues.data !== undefined;

  return (
    <div>
      <PageHeader
        title="Overview"
        subtitle="The whole system at a glance; every number here updates live."
        actions={info.data?.links.length ? <div className="flex flex-wrap gap-1.5">{info.data.links.map((l) => <LinkChip key={l.name} link={l} />)}</div> : undefined}
      />
      <ErrorNote error={queues.error} title="Could not load queues" />
      <dl className="mb-5 grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6" data-testid="overview-stats">
        <Stat label="Processing" value={loaded ? formatCount(totals.processing) : "…"} hint={`${busy} of ${slots} worker slots busy`} />
        <Stat
          label="Ready to run"
          value={loaded ? formatCount(totals.pending ?? 0) : "…"}
          hint={
            <span data-testid="waiting-later">
              {oldest > 0 ? `oldest for ${formatDuration(oldest)}; ` : ""}
              {formatCount(totals.scheduled ?? 0)} scheduled, {formatCount(totals.retrying ?? 0)} retrying later
            </span>
          }
        />
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
                <li key={q.name} data-queue={q.name} className="px-4 py-2.5">
                  <div className="flex items-center gap-3">
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
                  </div>
                  <div className="mt-1.5 empty:hidden">
                    <ServiceWarning q={q} compact />
                  </div>
                </li>
              ))}
            </ul>
          )}
          {(pausedCount > 0 || gapCount > 0) && (
            <p className="border-t border-zinc-100 px-4 py-2 text-xs text-amber-700 dark:border-zinc-800 dark:text-amber-400" data-testid="queue-footer">
              {[pausedCount > 0 && `${pausedCount} paused`, gapCount > 0 && `${gapCount} with waiting work no live worker runs`].filter(Boolean).join(" · ")}
            </p>
          )}
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
      {info.data && <ServerPanel info={info.data} />}
    </div>
  );
}
