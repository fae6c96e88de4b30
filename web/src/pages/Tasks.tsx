import { useEffect, useMemo, useState } from "react";
import { api } from "../api/client";
import { STATES, type Task, type TaskState } from "../api/types";
import { bulkByIds, describeBulk, eligible, type BulkAction } from "../bulk";
import { ConfirmButton } from "../components/ConfirmButton";
import { TaskTable } from "../components/TaskTable";
import { useToast } from "../components/toast";
import { Empty, ErrorNote, PageHeader, Spinner } from "../components/ui";
import { useNow, useResource } from "../hooks";
import { navigate, useLocation } from "../router";
import { useTaskList } from "../useTaskList";

const PAGE_SIZES = [25, 50, 100, 200];

/** useFilterParams keeps a list's filters in the address bar so that a view can be shared and survives a reload. */
export function useFilterParams(base: string) {
  const { search } = useLocation();
  const get = (k: string) => search.get(k) ?? "";
  const limit = Number(search.get("limit")) || 50;
  function set(changes: Record<string, string | number | undefined>, opts: { keepCursor?: boolean } = {}) {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === "") next.delete(k);
      else next.set(k, String(v));
    }
    if (!opts.keepCursor && !("cursor" in changes)) next.delete("cursor");
    const qs = next.toString();
    navigate(base + (qs ? "?" + qs : ""), { replace: !("cursor" in changes) });
  }
  return { get, limit: PAGE_SIZES.includes(limit) ? limit : 50, set };
}

export function Filters({
  state,
  queue,
  type,
  q,
  onChange,
  hideState,
}: {
  state: string;
  queue: string;
  type: string;
  q: string;
  onChange: (c: Record<string, string>) => void;
  hideState?: boolean;
}) {
  const queues = useResource((s) => api.listQueues(s), []);
  const types = useResource((s) => api.taskTypes(s), []);
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  // Search as the person types, but not on every key.
  useEffect(() => {
    if (text === q) return;
    const t = setTimeout(() => onChange({ q: text }), 300);
    return () => clearTimeout(t);
  }, [text]);
  const queueNames = useMemo(() => {
    const names = new Set((queues.data ?? []).map((x) => x.name));
    if (queue) names.add(queue);
    return [...names].sort();
  }, [queues.data, queue]);
  const typeNames = useMemo(() => {
    const names = new Set((types.data ?? []).map((x) => x.name));
    if (type) names.add(type);
    return [...names].sort();
  }, [types.data, type]);
  return (
    <form role="search" aria-label="Filter tasks" className="mb-3 grid grid-cols-2 gap-2 sm:flex sm:flex-wrap sm:items-end" onSubmit={(e) => e.preventDefault()}>
      {!hideState && (
        <div className="sm:w-36">
          <label htmlFor="f-state" className="label text-xs">
            State
          </label>
          <select id="f-state" className="input h-9" value={state} onChange={(e) => onChange({ state: e.target.value })}>
            <option value="">any state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      )}
      <div className="sm:w-40">
        <label htmlFor="f-queue" className="label text-xs">
          Queue
        </label>
        <select id="f-queue" className="input h-9" value={queue} onChange={(e) => onChange({ queue: e.target.value })}>
          <option value="">any queue</option>
          {queueNames.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <div className="sm:w-40">
        <label htmlFor="f-type" className="label text-xs">
          Type
        </label>
        <select id="f-type" className="input h-9" value={type} onChange={(e) => onChange({ type: e.target.value })}>
          <option value="">any type</option>
          {typeNames.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <div className="col-span-2 sm:w-64">
        <label htmlFor="f-q" className="label text-xs">
          Search
        </label>
        <input id="f-q" type="search" className="input h-9" placeholder="id, type or payload text" value={text} onChange={(e) => setText(e.target.value)} />
      </div>
    </form>
  );
}

export function Pager({
  page,
  count,
  hasPrev,
  nextCursor,
  onFirst,
  onPrev,
  onNext,
  limit,
  onLimit,
}: {
  page: number;
  count: number;
  hasPrev: boolean;
  nextCursor?: string;
  onFirst: () => void;
  onPrev: () => void;
  onNext: () => void;
  limit: number;
  onLimit: (n: number) => void;
}) {
  return (
    <nav aria-label="Pages" className="flex flex-wrap items-center justify-between gap-2 border-t border-zinc-200 px-3 py-2 text-sm dark:border-zinc-800">
      <span className="text-zinc-500 tabular-nums" aria-live="polite">
        Page {page} · {count} shown
      </span>
      <div className="flex flex-wrap items-center gap-2">
        <label htmlFor="page-size" className="text-xs text-zinc-500">
          Per page
        </label>
        <select id="page-size" className="input w-20 py-1" value={limit} onChange={(e) => onLimit(Number(e.target.value))}>
          {PAGE_SIZES.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <button type="button" className="btn btn-sm" onClick={onFirst} disabled={page <= 1}>
          First
        </button>
        <button type="button" className="btn btn-sm" onClick={onPrev} disabled={!hasPrev}>
          Previous
        </button>
        <button type="button" className="btn btn-sm" onClick={onNext} disabled={!nextCursor}>
          Next
        </button>
      </div>
    </nav>
  );
}

/** usePaging keeps the cursors of the pages before this one, so Previous works without the server paging backwards. */
export function usePaging(params: ReturnType<typeof useFilterParams>, filterKey: string) {
  const cursor = params.get("cursor") || undefined;
  const [stack, setStack] = useState<(string | undefined)[]>([]);
  useEffect(() => setStack([]), [filterKey]);
  return {
    cursor,
    pageNumber: stack.length + 1,
    hasPrev: stack.length > 0,
    first: () => {
      setStack([]);
      params.set({ cursor: undefined });
    },
    prev: () => {
      const s = stack.slice();
      const c = s.pop();
      setStack(s);
      params.set({ cursor: c });
    },
    next: (c: string) => {
      setStack([...stack, cursor]);
      params.set({ cursor: c });
    },
  };
}

export function useSelection(rows: Task[] | undefined) {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // Only what is on the page can be selected: drop ids that left it.
  useEffect(() => {
    if (!rows) return;
    setSelected((s) => {
      const ids = new Set(rows.map((t) => t.id));
      const kept = [...s].filter((id) => ids.has(id));
      return kept.length === s.size ? s : new Set(kept);
    });
  }, [rows]);
  return {
    selected,
    toggle: (id: string) =>
      setSelected((s) => {
        const n = new Set(s);
        if (n.has(id)) n.delete(id);
        else n.add(id);
        return n;
      }),
    toggleAll: (on: boolean) => setSelected(on ? new Set((rows ?? []).map((t) => t.id)) : new Set()),
    clear: () => setSelected(new Set()),
  };
}

export function BulkBar({
  rows,
  selected,
  actions,
  onDone,
  onClear,
}: {
  rows: Task[];
  selected: Set<string>;
  actions: BulkAction[];
  onDone: () => void;
  onClear: () => void;
}) {
  const toast = useToast();
  const [progress, setProgress] = useState<string>("");
  if (selected.size === 0) return null;
  const chosen = rows.filter((t) => selected.has(t.id));
  async function run(action: BulkAction) {
    const ids = chosen.filter((t) => eligible(action, t)).map((t) => t.id);
    setProgress("…");
    try {
      const r = await bulkByIds(action, ids, (d, n) => setProgress(`${d}/${n}`));
      toast(describeBulk(action, r), r.failed.length ? "error" : "info");
    } catch (e) {
      toast((e as Error).message, "error");
    } finally {
      setProgress("");
      onClear();
      onDone();
    }
  }
  const label: Record<BulkAction, string> = { cancel: "Cancel", retry: "Retry", delete: "Delete" };
  return (
    <div role="region" aria-label="Bulk actions" className="flex flex-wrap items-center gap-2 border-b border-indigo-200 bg-indigo-50 px-3 py-2 text-sm dark:border-indigo-900 dark:bg-indigo-950/50">
      <span className="font-medium tabular-nums">{selected.size} selected</span>
      {actions.map((a) => {
        const n = chosen.filter((t) => eligible(a, t)).length;
        const text = `${label[a]} ${n}`;
        return a === "retry" ? (
          <button key={a} type="button" className="btn btn-sm" disabled={n === 0} onClick={() => run(a)}>
            {text}
          </button>
        ) : (
          <ConfirmButton key={a} className="btn btn-sm btn-danger" disabled={n === 0} onConfirm={() => run(a)} confirmLabel={`Really ${label[a].toLowerCase()} ${n}?`}>
            {text}
          </ConfirmButton>
        );
      })}
      <button type="button" className="btn btn-sm" onClick={onClear}>
        Clear selection
      </button>
      {progress && <span className="text-xs tabular-nums">working… {progress}</span>}
    </div>
  );
}

export function TasksPage() {
  const params = useFilterParams("/tasks");
  const state = params.get("state") as TaskState | "";
  const queue = params.get("queue");
  const type = params.get("type");
  const q = params.get("q");
  const paging = usePaging(params, [state, queue, type, q, params.limit].join("|"));
  const list = useTaskList({ state, queue, type, q, limit: params.limit }, paging.cursor);
  const rows = list.page?.tasks;
  const sel = useSelection(rows);
  const now = useNow(1000);

  return (
    <div>
      <PageHeader title="Tasks" subtitle="Every task, newest first. Rows update live." />
      <Filters state={state} queue={queue} type={type} q={q} onChange={(c) => params.set(c)} />
      <ErrorNote error={list.error} title="Could not load tasks" />
      <div className="card overflow-hidden">
        <BulkBar rows={rows ?? []} selected={sel.selected} actions={["cancel", "retry", "delete"]} onDone={list.reload} onClear={sel.clear} />
        {!rows ? (
          <div className="px-4 py-10 text-center">
            <Spinner label="Loading tasks" />
          </div>
        ) : rows.length === 0 ? (
          <Empty>No tasks match these filters.</Empty>
        ) : (
          <TaskTable caption="Tasks" rows={rows} selected={sel.selected} onToggle={sel.toggle} onToggleAll={sel.toggleAll} now={now} />
        )}
        <Pager
          page={paging.pageNumber}
          count={rows?.length ?? 0}
          hasPrev={paging.hasPrev}
          nextCursor={list.page?.next_cursor}
          onFirst={paging.first}
          onPrev={paging.prev}
          onNext={() => list.page?.next_cursor && paging.next(list.page.next_cursor)}
          limit={params.limit}
          onLimit={(n) => params.set({ limit: n })}
        />
      </div>
    </div>
  );
}
