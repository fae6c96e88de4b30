import { useState } from "react";
import { api } from "../api/client";
import type { Task } from "../api/types";
import { bulkByFilter, describeBulk } from "../bulk";
import { ConfirmButton } from "../components/ConfirmButton";
import { TaskTable } from "../components/TaskTable";
import { useToast } from "../components/toast";
import { Empty, ErrorNote, PageHeader, Spinner } from "../components/ui";
import { formatCount } from "../format";
import { useNow } from "../hooks";
import { useTaskList } from "../useTaskList";
import { BulkBar, Filters, Pager, useFilterParams, usePaging, useSelection } from "./Tasks";
import { useQueues } from "./Queues";

export function DeadLettersPage() {
  const params = useFilterParams("/dead-letters");
  const queue = params.get("queue");
  const type = params.get("type");
  const q = params.get("q");
  const paging = usePaging(params, [queue, type, q, params.limit].join("|"));
  const list = useTaskList({ state: "failed", queue, type, q, limit: params.limit }, paging.cursor, "failed");
  const rows = list.page?.tasks;
  const sel = useSelection(rows);
  const now = useNow(1000);
  const toast = useToast();
  const queues = useQueues();
  const [progress, setProgress] = useState("");
  const total = (queues.data ?? []).filter((x) => !queue || x.name === queue).reduce((s, x) => s + (x.counts.failed ?? 0), 0);
  const filtered = !!(type || q);

  async function one(t: Task, action: "retry" | "delete") {
    try {
      if (action === "retry") await api.retryTask(t.id);
      else await api.cancelOrDelete(t.id);
      toast(`${action === "retry" ? "Retried" : "Deleted"} ${t.type} ${t.id.slice(-8)}`);
    } catch (e) {
      toast((e as Error).message, "error");
    }
    list.reload();
  }

  async function retryAll() {
    setProgress("retrying…");
    try {
      const r = await bulkByFilter("retry", { state: "failed", queue: queue || undefined, type: type || undefined, q: q || undefined }, (d) => setProgress(`retried ${formatCount(d)}`));
      toast(describeBulk("retry", r), r.failed.length ? "error" : "info");
    } catch (e) {
      toast((e as Error).message, "error");
    } finally {
      setProgress("");
      list.reload();
    }
  }

  return (
    <div>
      <PageHeader
        title="Dead letters"
        subtitle="Tasks that failed every attempt they had. Retry sends one back to pending with fresh attempts."
        actions={
          <ConfirmButton
            className="btn btn-primary"
            disabled={!!progress || (rows?.length ?? 0) === 0}
            onConfirm={retryAll}
            confirmLabel={`Really retry ${filtered ? "every match" : formatCount(total)}?`}
          >
            {filtered ? "Retry all matching" : `Retry all ${formatCount(total)}`}
          </ConfirmButton>
        }
      />
      {progress && (
        <p role="status" className="mb-3 text-sm tabular-nums">
          {progress}
        </p>
      )}
      <Filters state="failed" queue={queue} type={type} q={q} onChange={(c) => params.set(c)} hideState />
      <ErrorNote error={list.error} title="Could not load dead letters" />
      <div className="card overflow-hidden">
        <BulkBar rows={rows ?? []} selected={sel.selected} actions={["retry", "delete"]} onDone={list.reload} onClear={sel.clear} />
        {!rows ? (
          <div className="px-4 py-10 text-center">
            <Spinner label="Loading dead letters" />
          </div>
        ) : rows.length === 0 ? (
          <Empty>No failed tasks{queue || filtered ? " match these filters" : ""}. </Empty>
        ) : (
          <TaskTable
            caption="Failed tasks"
            rows={rows}
            selected={sel.selected}
            onToggle={sel.toggle}
            onToggleAll={sel.toggleAll}
            now={now}
            showError
            rowActions={(t) => (
              <div className="flex gap-1.5">
                <button type="button" className="btn btn-sm" onClick={() => one(t, "retry")} aria-label={`Retry task ${t.id}`}>
                  Retry
                </button>
                <ConfirmButton className="btn btn-sm btn-danger" onConfirm={() => one(t, "delete")} confirmLabel="Sure?" ariaLabel={`Delete task ${t.id}`}>
                  Delete
                </ConfirmButton>
              </div>
            )}
          />
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
