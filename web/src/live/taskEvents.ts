// Pure functions that fold live task_update events into what a page shows:
// one full task record (the task page) or a page of rows (the tables).

import { isFinal, type LiveEvent, type Task, type TaskEvent, type TaskState } from "../api/types";

/**
 * isStale reports whether ev describes an older moment than task does.
 * Events and fetches race: a record fetched just now may be newer than an
 * event still in flight. A final task knows when it finished, and an
 * event knows when it happened: an event from before the finish is old
 * news. A manual retry puts the task back to pending with its attempts
 * counted from zero; its event comes after the finish, so it passes.
 * Without times, attempts only grow while a task is not final.
 */
export function isStale(task: Pick<Task, "state" | "attempt" | "finished_at">, ev: Pick<TaskEvent, "state" | "attempt" | "at">): boolean {
  if (isFinal(task.state)) {
    const finished = task.finished_at ? Date.parse(task.finished_at) : NaN;
    const at = ev.at ? Date.parse(ev.at) : NaN;
    if (!Number.isNaN(finished) && !Number.isNaN(at)) return at < finished;
    return ev.state !== "pending" && ev.attempt <= task.attempt;
  }
  return ev.attempt < task.attempt;
}

/** mergeTaskEvent returns task updated by ev, or task itself when ev changes nothing or is stale. */
export function mergeTaskEvent(task: Task, ev: TaskEvent): Task {
  if (ev.id !== task.id || isStale(task, ev)) return task;
  const next: Task = { ...task, state: ev.state, attempt: ev.attempt };
  if (ev.progress) next.progress = ev.progress;
  if (ev.result !== undefined) next.result = ev.result;
  if (ev.error) next.last_error = ev.error;
  // A completed task is not in error, whatever an earlier attempt said (the server blanks it too).
  if (ev.state === "completed") next.last_error = undefined;
  next.worker_id = ev.worker_id || undefined;
  if (isFinal(ev.state) && ev.at && !task.finished_at) next.finished_at = ev.at;
  if (ev.state === "pending" && isFinal(task.state)) {
    // Retried by hand: the old outcome no longer describes the task.
    next.finished_at = undefined;
    next.progress = undefined;
  }
  const same =
    next.state === task.state &&
    next.attempt === task.attempt &&
    next.progress === task.progress &&
    next.result === task.result &&
    next.last_error === task.last_error &&
    next.worker_id === task.worker_id &&
    next.finished_at === task.finished_at;
  return same ? task : next;
}

/** taskEventsOf picks the task updates out of a batch of live events. */
export function taskEventsOf(events: LiveEvent[]): TaskEvent[] {
  const out: TaskEvent[] = [];
  for (const e of events) if (e.kind === "task_update" && e.task) out.push(e.at && !e.task.at ? { ...e.task, at: e.at } : e.task);
  return out;
}

export interface RowsUpdate {
  rows: Task[];
  /** whether any row changed */
  changed: boolean;
  /** events about tasks that are not among the rows */
  unseen: TaskEvent[];
}

/** applyTaskEvents patches the rows the events are about, in order, keeping the others as they are. */
export function applyTaskEvents(rows: Task[], events: TaskEvent[]): RowsUpdate {
  const index = new Map<string, number>();
  rows.forEach((t, i) => index.set(t.id, i));
  let out = rows;
  const unseen: TaskEvent[] = [];
  for (const ev of events) {
    const i = index.get(ev.id);
    if (i === undefined) {
      unseen.push(ev);
      continue;
    }
    const merged = mergeTaskEvent(out[i], ev);
    if (merged !== out[i]) {
      if (out === rows) out = rows.slice();
      out[i] = merged;
    }
  }
  return { rows: out, changed: out !== rows, unseen };
}

export interface RowFilter {
  state?: TaskState | "";
  queue?: string;
  type?: string;
  q?: string;
}

/**
 * mayMatch reports whether a task in ev's state could belong in a list
 * with filter f. The text search also looks at payloads, which events do
 * not carry, so a search matches every event of the right state, queue
 * and type: at worst the list reloads once too often.
 */
export function mayMatch(ev: TaskEvent, f: RowFilter): boolean {
  if (f.state && ev.state !== f.state) return false;
  if (f.queue && ev.queue !== f.queue) return false;
  if (f.type && ev.type !== f.type) return false;
  return true;
}
