// One server-side page of tasks, kept live: events patch the rows shown,
// events about tasks that may belong on the first page reload it (at most
// once a second), and a resync reloads whatever page is shown.

import { api, type TaskFilter } from "./api/client";
import type { Task, TaskPage, TaskState } from "./api/types";
import { useResource, useThrottled } from "./hooks";
import { useLiveEvents } from "./live/LiveContext";
import { applyTaskEvents, mayMatch, taskEventsOf } from "./live/taskEvents";

export interface TaskListFilter {
  state?: TaskState | "";
  queue?: string;
  type?: string;
  q?: string;
  limit: number;
}

export function useTaskList(f: TaskListFilter, cursor: string | undefined, keepOnly?: TaskState) {
  const filter: TaskFilter = { ...f, cursor };
  const res = useResource<TaskPage>((signal) => api.listTasks(filter, signal), [f.state, f.queue, f.type, f.q, f.limit, cursor]);
  const reload = useThrottled(res.reload, 1000);

  useLiveEvents((events) => {
    if (events.some((e) => e.kind === "resync")) {
      reload();
      return;
    }
    const tes = taskEventsOf(events);
    if (tes.length === 0) return;
    res.set((page) => {
      if (!page) return page;
      const u = applyTaskEvents(page.tasks, tes);
      if (!u.changed) return page;
      let rows: Task[] = u.rows;
      if (keepOnly) rows = rows.filter((t) => t.state === keepOnly);
      return { ...page, tasks: rows };
    });
    // New tasks may belong on the first page; later pages only patch rows
    // (inserting there would shift what a person is reading).
    const shown = new Set((res.data?.tasks ?? []).map((t) => t.id));
    if (!cursor && tes.some((e) => !shown.has(e.id) && mayMatch(e, f))) reload();
  });

  return { page: res.data, error: res.error, loading: res.loading, reload: res.reload };
}
