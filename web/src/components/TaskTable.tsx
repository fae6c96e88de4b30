// The table of tasks shared by the Tasks and Dead letters pages. It draws
// one page (at most a few hundred rows: paging is on the server), so it
// stays fast however many tasks exist.

import type { Task } from "../api/types";
import { between, firstLine, formatDuration, shortId, timeAgo } from "../format";
import { Link } from "../router";
import { ProgressBar, StateBadge } from "./ui";

interface Props {
  rows: Task[];
  selected: Set<string>;
  onToggle: (id: string) => void;
  onToggleAll: (select: boolean) => void;
  now: number;
  showError?: boolean;
  rowActions?: (t: Task) => React.ReactNode;
  caption: string;
}

/**
 * ranFor is how long a task ran over all its attempts (the time between
 * attempts, waiting for a retry, left out); a task's own started_at and
 * finished_at would cover the last attempt only.
 */
export function ranFor(t: Task, now: number): string {
  const attempts = (t.attempts ?? []).filter((a) => a.started_at);
  if (attempts.length === 0) return t.started_at ? formatDuration(between(t.started_at, t.finished_at, now)) : "–";
  const ms = attempts.reduce((sum, a) => sum + between(a.started_at, a.finished_at, now), 0);
  return attempts.length > 1 ? `${formatDuration(ms)} in ${attempts.length} attempts` : formatDuration(ms);
}

export function TaskTable({ rows, selected, onToggle, onToggleAll, now, showError, rowActions, caption }: Props) {
  const all = rows.length > 0 && rows.every((t) => selected.has(t.id));
  const some = !all && rows.some((t) => selected.has(t.id));
  return (
    <div className="overflow-x-auto">
      <table className="w-full min-w-[44rem] border-collapse" data-testid="task-table">
        <caption className="sr-only">{caption}</caption>
        <thead className="border-b border-zinc-200 dark:border-zinc-800">
          <tr>
            <th scope="col" className="th w-10">
              <input
                type="checkbox"
                className="h-4 w-4 accent-indigo-600"
                aria-label="Select every task on this page"
                checked={all}
                ref={(el) => {
                  if (el) el.indeterminate = some;
                }}
                onChange={(e) => onToggleAll(e.target.checked)}
              />
            </th>
            <th scope="col" className="th">
              Task
            </th>
            <th scope="col" className="th">
              Queue
            </th>
            <th scope="col" className="th">
              State
            </th>
            <th scope="col" className="th">
              Attempts
            </th>
            <th scope="col" className="th">
              {showError ? "Last error" : "Progress"}
            </th>
            <th scope="col" className="th">
              Created
            </th>
            <th scope="col" className="th" title="all attempts together">
              Ran for
            </th>
            {rowActions && (
              <th scope="col" className="th">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => (
            <tr key={t.id} data-task-id={t.id} data-state={t.state} className="h-12 border-b border-zinc-100 last:border-0 hover:bg-zinc-50 dark:border-zinc-800/60 dark:hover:bg-zinc-800/40">
              <td className="td">
                <input
                  type="checkbox"
                  className="h-4 w-4 accent-indigo-600"
                  aria-label={`Select task ${t.id}`}
                  checked={selected.has(t.id)}
                  onChange={() => onToggle(t.id)}
                />
              </td>
              <td className="td">
                <Link href={`/tasks/${encodeURIComponent(t.id)}`} className="link font-medium" title={t.id}>
                  {t.type}
                </Link>
                <div className="mono text-xs text-zinc-500">{shortId(t.id)}</div>
              </td>
              <td className="td">{t.queue}</td>
              <td className="td">
                <StateBadge state={t.state} />
              </td>
              <td className="td tabular-nums">
                {t.attempt}/{t.max_attempts}
              </td>
              <td className="td max-w-xs">
                {showError ? (
                  <span className="line-clamp-2 text-xs break-all text-red-700 dark:text-red-300" title={t.last_error}>
                    {firstLine(t.last_error) || "–"}
                  </span>
                ) : t.state === "processing" ? (
                  <div className="flex items-center gap-2">
                    <ProgressBar small percent={t.progress?.percent ?? 0} label={`Progress of task ${t.id}`} />
                    <span className="w-9 text-right text-xs tabular-nums">{Math.round(t.progress?.percent ?? 0)}%</span>
                  </div>
                ) : t.state === "scheduled" || t.state === "retrying" ? (
                  <span className="text-xs text-zinc-500">runs {timeAgo(t.run_at, now)}</span>
                ) : (
                  <span className="text-xs text-zinc-400">–</span>
                )}
              </td>
              <td className="td text-xs whitespace-nowrap text-zinc-600 tabular-nums dark:text-zinc-400" title={t.created_at}>
                {timeAgo(t.created_at, now)}
              </td>
              <td className="td text-xs whitespace-nowrap tabular-nums">{ranFor(t, now)}</td>
              {rowActions && <td className="td whitespace-nowrap">{rowActions(t)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
