import { useEffect, useState } from "react";
import { api, ApiError, fetchFile, saveBlob } from "../api/client";
import { isFinal, type Attempt, type Task } from "../api/types";
import { ConfirmButton } from "../components/ConfirmButton";
import { JsonView } from "../components/JsonView";
import { useToast } from "../components/toast";
import { ErrorNote, PageHeader, ProgressBar, Section, Spinner, StateBadge } from "../components/ui";
import { between, findImages, formatDateTime, formatDuration, timeAgo } from "../format";
import { useNow, useResource, useThrottled } from "../hooks";
import { useLiveEvents } from "../live/LiveContext";
import { mergeTaskEvent, taskEventsOf } from "../live/taskEvents";
import { Link, navigate } from "../router";

/** producedFiles lists the files of the files folder a task's result names (a backup's archive). */
export function producedFiles(result: unknown): string[] {
  if (!result || typeof result !== "object" || Array.isArray(result)) return [];
  const out: string[] = [];
  for (const key of ["archive", "output", "destination"]) {
    const v = (result as Record<string, unknown>)[key];
    if (typeof v === "string" && v && !v.startsWith("/") && !v.split("/").includes("..")) out.push(v);
  }
  return out;
}

const IMAGE_FILE = /\.(png|jpe?g|gif|webp)$/i;

/** FileDownload saves a file of the files folder, fetched with the API token. */
function FileDownload({ path }: { path: string }) {
  const [error, setError] = useState("");
  return (
    <span className="inline-flex items-center gap-2">
      <button
        type="button"
        className="btn btn-sm"
        onClick={async () => {
          setError("");
          try {
            saveBlob(await fetchFile(path), path.split("/").pop() || "download");
          } catch (e) {
            setError((e as Error).message);
          }
        }}
      >
        Download {path}
      </button>
      {error && <span className="text-xs text-red-700 dark:text-red-300">{error}</span>}
    </span>
  );
}

/** FilePreview shows an image of the files folder (a task's input), fetched with the API token. */
function FilePreview({ path }: { path: string }) {
  const [src, setSrc] = useState<string | undefined>();
  const [error, setError] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    let url: string | undefined;
    fetchFile(path, ctl.signal)
      .then((b) => {
        url = URL.createObjectURL(b);
        setSrc(url);
      })
      .catch((e: Error) => e.name !== "AbortError" && setError(e.message));
    return () => {
      ctl.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [path]);
  if (error) return <p className="px-4 py-2 text-xs text-zinc-500">{error}</p>;
  if (!src) return null;
  return (
    <figure className="m-0 p-4">
      <img src={src} alt={`Input file ${path}`} className="max-h-48 max-w-full rounded-md border border-zinc-200 dark:border-zinc-700" />
      <figcaption className="mt-1 text-xs text-zinc-500">
        {path} (files folder) · <FileDownload path={path} />
      </figcaption>
    </figure>
  );
}

const OUTCOME_STYLE: Record<string, string> = {
  completed: "text-emerald-700 dark:text-emerald-400",
  failed: "text-red-700 dark:text-red-400",
  canceled: "text-zinc-600 dark:text-zinc-400",
  lease_expired: "text-orange-700 dark:text-orange-400",
  released: "text-sky-700 dark:text-sky-400",
};

function TimelineItem({ dot, title, time, children }: { dot: string; title: React.ReactNode; time?: string; children?: React.ReactNode }) {
  return (
    <li className="relative pb-5 pl-6 last:pb-0">
      <span aria-hidden className="absolute top-0 bottom-0 left-[5px] w-px bg-zinc-200 dark:bg-zinc-800" />
      <span aria-hidden className={`absolute top-1.5 left-0 h-[11px] w-[11px] rounded-full ring-4 ring-white dark:ring-zinc-900 ${dot}`} />
      <div className="flex flex-wrap items-baseline gap-x-2">
        <span className="text-sm font-medium">{title}</span>
        {time && (
          <time dateTime={time} className="text-xs text-zinc-500" title={time}>
            {formatDateTime(time)}
          </time>
        )}
      </div>
      {children && <div className="mt-1 text-sm">{children}</div>}
    </li>
  );
}

function AttemptItem({ a, now, last }: { a: Attempt; now: number; last: boolean }) {
  const running = !a.outcome;
  const ms = between(a.started_at, a.finished_at, now);
  return (
    <TimelineItem
      dot={running ? "bg-amber-500 animate-pulse" : a.outcome === "completed" ? "bg-emerald-500" : a.outcome === "failed" ? "bg-red-500" : "bg-zinc-400"}
      title={
        <>
          Attempt {a.number}{" "}
          <span className={`font-normal ${OUTCOME_STYLE[a.outcome ?? ""] ?? "text-amber-700 dark:text-amber-400"}`}>
            {running ? "running" : a.outcome?.replace("_", " ")}
          </span>
        </>
      }
      time={a.started_at}
    >
      <p className="text-xs text-zinc-600 dark:text-zinc-400">
        on worker <span className="mono">{a.worker_id || "–"}</span> · {running ? "running for " : "took "}
        <span className="tabular-nums">{formatDuration(ms)}</span>
      </p>
      {a.error && (
        <details open={last} className="mt-1.5">
          <summary className="cursor-pointer text-xs font-medium text-red-700 dark:text-red-400">{a.error.split("\n")[0]}</summary>
          <pre className="mt-1 max-h-72 overflow-auto rounded-md bg-red-50 p-2 text-xs whitespace-pre-wrap text-red-900 dark:bg-red-950/50 dark:text-red-200">
            {a.error}
          </pre>
        </details>
      )}
    </TimelineItem>
  );
}

function Timeline({ t, now }: { t: Task; now: number }) {
  const attempts = t.attempts ?? [];
  const scheduled = t.run_at && Date.parse(t.run_at) - Date.parse(t.created_at) > 1000 && attempts.length === 0;
  return (
    <ol aria-label="Timeline" className="px-4 py-4">
      <TimelineItem dot="bg-sky-500" title="Submitted" time={t.created_at}>
        <p className="text-xs text-zinc-600 dark:text-zinc-400">
          to queue {t.queue}, priority {t.priority}, up to {t.max_attempts} attempt{t.max_attempts === 1 ? "" : "s"}
          {t.timeout ? `, ${t.timeout} each` : ""}
        </p>
      </TimelineItem>
      {scheduled && <TimelineItem dot="bg-violet-500" title={`Scheduled to run ${timeAgo(t.run_at, now)}`} time={t.run_at} />}
      {attempts.map((a, i) => (
        <AttemptItem key={a.number + ":" + a.started_at} a={a} now={now} last={i === attempts.length - 1} />
      ))}
      {t.state === "retrying" && <TimelineItem dot="bg-orange-500" title={`Waiting to retry ${timeAgo(t.run_at, now)}`} time={t.run_at} />}
      {t.state === "pending" && attempts.length > 0 && <TimelineItem dot="bg-sky-500" title="Waiting for a worker" />}
      {isFinal(t.state) && (
        <TimelineItem
          dot={t.state === "completed" ? "bg-emerald-500" : t.state === "failed" ? "bg-red-500" : "bg-zinc-400"}
          title={t.state === "completed" ? "Completed" : t.state === "failed" ? "Failed: moved to the dead letters" : "Canceled"}
          time={t.finished_at}
        >
          {t.finished_at && <p className="text-xs text-zinc-600 dark:text-zinc-400">{formatDuration(between(t.created_at, t.finished_at))} after it was submitted</p>}
        </TimelineItem>
      )}
    </ol>
  );
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs text-zinc-500 dark:text-zinc-400">{label}</dt>
      <dd className="truncate text-sm font-medium">{children}</dd>
    </div>
  );
}

export function TaskDetailPage({ id }: { id: string }) {
  const res = useResource((signal) => api.getTask(id, signal), [id]);
  const reload = useThrottled(res.reload, 300);
  const toast = useToast();
  useNow(1000); // re-render every second, so running times count up
  const now = Date.now();
  const [busy, setBusy] = useState(false);

  useLiveEvents((events) => {
    if (events.some((e) => e.kind === "resync")) return reload();
    const mine = taskEventsOf(events).filter((e) => e.id === id);
    if (mine.length === 0) return;
    const before = res.data;
    res.set((t) => (t ? mine.reduce(mergeTaskEvent, t) : t));
    // Events carry the state, not the attempts list, timings or payload:
    // when the task moves on, fetch the full record.
    const last = mine[mine.length - 1];
    if (!before || last.state !== before.state || last.attempt !== before.attempt) reload();
  });

  const t = res.data;
  if (!t) {
    if (res.error instanceof ApiError && res.error.status === 404)
      return (
        <div>
          <PageHeader title="Task not found" subtitle={<span className="mono">{id}</span>} />
          <p className="text-sm">
            It may have been deleted. <Link className="link" href="/tasks">See all tasks</Link>
          </p>
        </div>
      );
    return (
      <div>
        <PageHeader title="Task" subtitle={<span className="mono">{id}</span>} />
        <ErrorNote error={res.error} title="Could not load the task" />
        {!res.error && <Spinner label="Loading the task" />}
      </div>
    );
  }

  async function act(what: "cancel" | "retry" | "delete") {
    setBusy(true);
    try {
      if (what === "retry") {
        const updated = await api.retryTask(id);
        res.set(() => updated);
        toast("Task sent back to pending");
      } else {
        const updated = await api.cancelOrDelete(id);
        if (what === "delete" || !updated) {
          toast("Task deleted");
          navigate("/tasks");
          return;
        }
        res.set(() => updated);
        toast("Task canceled");
      }
      reload();
    } catch (e) {
      toast((e as Error).message, "error");
    } finally {
      setBusy(false);
    }
  }

  const images = t.result !== undefined ? findImages(t.result) : [];
  const produced = producedFiles(t.result);
  const inputPath = typeof (t.payload as { path?: unknown } | undefined)?.path === "string" ? ((t.payload as { path: string }).path) : "";
  const final = isFinal(t.state);
  // The worker holding the task, or else the one of its last attempt (the timeline names it too).
  const lastAttempt = t.attempts?.length ? t.attempts[t.attempts.length - 1] : undefined;
  const worker = t.worker_id || lastAttempt?.worker_id || "";
  return (
    <div>
      <PageHeader
        title={t.type}
        subtitle={
          <span className="mono break-all" data-testid="task-id">
            {t.id}
          </span>
        }
        actions={
          <>
            {!final && (
              <ConfirmButton onConfirm={() => act("cancel")} confirmLabel="Really cancel?" disabled={busy}>
                Cancel task
              </ConfirmButton>
            )}
            {(t.state === "failed" || t.state === "canceled") && (
              <button type="button" className="btn btn-primary" disabled={busy} onClick={() => act("retry")}>
                Retry
              </button>
            )}
            {final && (
              <ConfirmButton onConfirm={() => act("delete")} confirmLabel="Really delete?" disabled={busy}>
                Delete
              </ConfirmButton>
            )}
          </>
        }
      />
      <ErrorNote error={res.error} title="Could not refresh" />
      <div className="card mb-5 px-4 py-3">
        <dl className="grid grid-cols-2 gap-x-4 gap-y-3 sm:grid-cols-3 lg:grid-cols-6">
          <Fact label="State">
            <span data-testid="task-state" data-state={t.state}>
              <StateBadge state={t.state} />
            </span>
          </Fact>
          <Fact label="Attempts">
            <span className="tabular-nums" data-testid="task-attempts">
              {t.attempt} of {t.max_attempts}
            </span>
          </Fact>
          <Fact label="Queue">
            <Link className="link" href={`/tasks?queue=${encodeURIComponent(t.queue)}`}>
              {t.queue}
            </Link>
          </Fact>
          <Fact label="Priority">{t.priority}</Fact>
          <Fact label={t.worker_id || !worker ? "Worker" : "Last worker"}>
            <span className="mono text-xs break-all" title={worker} data-testid="task-worker">
              {worker || "–"}
            </span>
          </Fact>
          <Fact label={final ? "Finished" : "Created"}>
            <span title={final ? t.finished_at : t.created_at}>{timeAgo(final ? t.finished_at : t.created_at, now)}</span>
          </Fact>
        </dl>
        {(t.state === "processing" || (t.progress && !final)) && (
          <div className="mt-4" data-testid="task-progress">
            <div className="mb-1 flex justify-between text-xs">
              <span>{t.progress?.message || (t.state === "processing" ? "running" : "waiting")}</span>
              <span className="tabular-nums" data-testid="task-progress-percent">
                {Math.round(t.progress?.percent ?? 0)}%
              </span>
            </div>
            <ProgressBar percent={t.progress?.percent ?? 0} label="Progress" />
          </div>
        )}
        {t.last_error && (
          <div className="mt-4">
            <h2 className="text-xs font-medium text-zinc-500">Last error</h2>
            <pre data-testid="task-last-error" className="mt-1 max-h-48 overflow-auto rounded-md bg-red-50 p-2 text-xs whitespace-pre-wrap text-red-900 dark:bg-red-950/50 dark:text-red-200">
              {t.last_error}
            </pre>
          </div>
        )}
      </div>
      <div className="grid gap-5 lg:grid-cols-2">
        <div className="min-w-0">
          <Section title="Result">
            {images.length > 0 && (
              <div className="flex flex-wrap gap-3 border-b border-zinc-200 p-4 dark:border-zinc-800">
                {images.map((img) => (
                  <figure key={img.path} className="m-0">
                    <img src={img.src} alt={`Image in ${img.path}`} className="max-h-72 max-w-full rounded-md border border-zinc-200 bg-[repeating-conic-gradient(#e4e4e7_0_25%,white_0_50%)] bg-[length:16px_16px] dark:border-zinc-700" />
                    <figcaption className="mt-1 text-xs text-zinc-500">
                      {img.path} · {img.mediaType} ·{" "}
                      <a className="link" href={img.src} download={`${t.type}-${t.id.slice(-8)}.${img.mediaType.split("/")[1] ?? "bin"}`}>
                        save
                      </a>
                    </figcaption>
                  </figure>
                ))}
              </div>
            )}
            {produced.length > 0 && (
              <div className="flex flex-wrap gap-2 border-b border-zinc-200 px-4 py-3 dark:border-zinc-800" data-testid="task-files">
                {produced.map((p) => (
                  <FileDownload key={p} path={p} />
                ))}
              </div>
            )}
            <div data-testid="task-result">
              {t.result === undefined ? (
                <p className="px-4 py-3 text-sm text-zinc-500">{final ? "no result" : "not finished yet"}</p>
              ) : (
                <JsonView value={t.result} label="Result" />
              )}
            </div>
          </Section>
          <Section title="Payload">
            {inputPath && IMAGE_FILE.test(inputPath) && <FilePreview path={inputPath} />}
            <JsonView value={t.payload} label="Payload" />
          </Section>
        </div>
        <div className="min-w-0">
          <Section title="Timeline">
            <Timeline t={t} now={now} />
          </Section>
          <Section title="Details">
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 px-4 py-3 text-sm">
              <dt className="text-zinc-500">Created</dt>
              <dd>{formatDateTime(t.created_at)}</dd>
              <dt className="text-zinc-500">Started</dt>
              <dd>{formatDateTime(t.started_at)}</dd>
              <dt className="text-zinc-500">Finished</dt>
              <dd>{formatDateTime(t.finished_at)}</dd>
              {t.run_at && (
                <>
                  <dt className="text-zinc-500">Run at</dt>
                  <dd>{formatDateTime(t.run_at)}</dd>
                </>
              )}
              {t.deadline && (
                <>
                  <dt className="text-zinc-500">Deadline</dt>
                  <dd>{formatDateTime(t.deadline)}</dd>
                </>
              )}
              <dt className="text-zinc-500">Timeout</dt>
              <dd>{t.timeout || "the worker's default"}</dd>
              {t.unique_key && (
                <>
                  <dt className="text-zinc-500">Unique key</dt>
                  <dd className="mono break-all">{t.unique_key}</dd>
                </>
              )}
            </dl>
          </Section>
        </div>
      </div>
    </div>
  );
}
