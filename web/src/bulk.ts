// Actions on many tasks at once: which selected tasks each action applies
// to, and running the calls a few at a time so a big selection neither
// floods the server nor takes forever.

import { api, ApiError, type BulkFilter } from "./api/client";
import { isFinal, type Task } from "./api/types";

export type BulkAction = "cancel" | "retry" | "delete";

/** eligible reports whether action applies to a task in this state. */
export function eligible(action: BulkAction, t: Pick<Task, "state">): boolean {
  switch (action) {
    case "cancel":
      return !isFinal(t.state);
    case "retry":
      return t.state === "failed" || t.state === "canceled";
    case "delete":
      return isFinal(t.state);
  }
}

export interface BulkResult {
  ok: string[];
  failed: { id: string; error: string }[];
}

/** runBulk calls fn for every id, at most concurrency at a time, and collects what went wrong instead of stopping. */
export async function runBulk(
  ids: string[],
  fn: (id: string) => Promise<unknown>,
  opts: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<BulkResult> {
  const result: BulkResult = { ok: [], failed: [] };
  let next = 0;
  let done = 0;
  async function lane() {
    while (next < ids.length) {
      const id = ids[next++];
      try {
        await fn(id);
        result.ok.push(id);
      } catch (e) {
        result.failed.push({ id, error: (e as Error)?.message ?? String(e) });
      }
      done++;
      opts.onProgress?.(done, ids.length);
    }
  }
  const lanes = Math.max(1, Math.min(opts.concurrency ?? 4, ids.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return result;
}

const PAST: Record<BulkAction, string> = { cancel: "Canceled", retry: "Retried", delete: "Deleted" };

/** describeBulk writes a one-line outcome for a toast. */
export function describeBulk(action: BulkAction, r: BulkResult): string {
  const n = r.ok.length;
  let s = `${PAST[action]} ${n} task${n === 1 ? "" : "s"}`;
  if (r.failed.length > 0) s += `; ${r.failed.length} failed (${r.failed[0].error})`;
  return s;
}

/**
 * bulkByIds applies action to the given tasks in one call to
 * POST /api/tasks/bulk, or one call per task against a server without
 * that endpoint.
 */
export async function bulkByIds(action: BulkAction, ids: string[], onProgress?: (done: number, total: number) => void): Promise<BulkResult> {
  const result: BulkResult = { ok: [], failed: [] };
  try {
    for (let i = 0; i < ids.length; i += 1000) {
      const r = await api.bulk(action, { ids: ids.slice(i, i + 1000) });
      result.ok.push(...(r.ids ?? []));
      for (const f of r.failed ?? []) result.failed.push({ id: f.id, error: f.message });
      onProgress?.(Math.min(ids.length, i + 1000), ids.length);
    }
    return result;
  } catch (e) {
    if (!(e instanceof ApiError && (e.status === 404 || e.status === 405)) || result.ok.length + result.failed.length > 0) throw e;
  }
  const fn = action === "retry" ? api.retryTask : api.cancelOrDelete;
  return runBulk(ids, fn, { onProgress });
}

/** bulkByFilter applies action to every task the filter selects, following the server's cursor until the scan is done. */
export async function bulkByFilter(action: BulkAction, filter: Omit<BulkFilter, "ids" | "cursor">, onProgress?: (done: number) => void): Promise<BulkResult> {
  const result: BulkResult = { ok: [], failed: [] };
  let cursor: string | undefined;
  for (let calls = 0; calls < 10_000; calls++) {
    const r = await api.bulk(action, { ...filter, cursor }, 1000);
    result.ok.push(...(r.ids ?? []));
    for (const f of r.failed ?? []) result.failed.push({ id: f.id, error: f.message });
    onProgress?.(result.ok.length);
    cursor = r.next_cursor;
    if (!cursor) break;
  }
  return result;
}
