import { describe, expect, it } from "vitest";
import type { Task, TaskEvent } from "../api/types";
import { applyTaskEvents, isStale, mayMatch, mergeTaskEvent, taskEventsOf } from "./taskEvents";

function task(over: Partial<Task> = {}): Task {
  return { id: "t1", type: "sleep", queue: "default", priority: 0, state: "pending", attempt: 0, max_attempts: 3, created_at: "2026-01-01T00:00:00Z", ...over };
}
function ev(over: Partial<TaskEvent> = {}): TaskEvent {
  return { id: "t1", type: "sleep", queue: "default", state: "processing", attempt: 1, ...over };
}

describe("mergeTaskEvent", () => {
  it("applies state, attempt, progress and worker", () => {
    const t = mergeTaskEvent(task(), ev({ progress: { percent: 30, message: "slept 300ms" }, worker_id: "w1" }));
    expect(t).toMatchObject({ state: "processing", attempt: 1, progress: { percent: 30 }, worker_id: "w1" });
  });

  it("keeps the result and error an event brings", () => {
    const done = mergeTaskEvent(task({ state: "processing", attempt: 1 }), ev({ state: "completed", result: { value: "9227465" } }));
    expect(done.result).toEqual({ value: "9227465" });
    expect(done.worker_id).toBeUndefined();
    const failed = mergeTaskEvent(task({ state: "processing", attempt: 1 }), ev({ state: "failed", error: "boom" }));
    expect(failed.last_error).toBe("boom");
  });

  it("returns the same object when nothing changes, so React can skip the render", () => {
    const t = task({ state: "processing", attempt: 1, worker_id: "w1" });
    expect(mergeTaskEvent(t, ev({ worker_id: "w1" }))).toBe(t);
    expect(mergeTaskEvent(t, ev({ id: "other" }))).toBe(t);
  });

  it("ignores events older than the record", () => {
    const done = task({ state: "completed", attempt: 2, result: { ok: true } });
    expect(mergeTaskEvent(done, ev({ state: "processing", attempt: 2 }))).toBe(done);
    expect(mergeTaskEvent(done, ev({ state: "retrying", attempt: 1 }))).toBe(done);
    expect(isStale(task({ state: "processing", attempt: 3 }), { state: "processing", attempt: 2 })).toBe(true);
  });

  it("ignores an event from before the finish, by time (a fast task fetched done before its pending event arrived)", () => {
    const done = task({ state: "completed", attempt: 1, finished_at: "2026-01-01T00:00:02Z", result: { value: "9227465" } });
    expect(mergeTaskEvent(done, ev({ state: "pending", attempt: 0, at: "2026-01-01T00:00:01Z" }))).toBe(done);
    expect(mergeTaskEvent(done, ev({ state: "processing", attempt: 1, at: "2026-01-01T00:00:01.5Z" }))).toBe(done);
    // The finishing event itself, at the same instant, changes nothing either.
    expect(mergeTaskEvent(done, ev({ state: "completed", attempt: 1, at: "2026-01-01T00:00:02Z", result: done.result }))).toBe(done);
  });

  it("follows a manual retry of a dead letter back to pending (attempts from zero) and on", () => {
    let t = task({ state: "failed", attempt: 1, max_attempts: 1, finished_at: "2026-01-01T00:00:01Z", progress: { percent: 100 } });
    t = mergeTaskEvent(t, ev({ state: "pending", attempt: 0, at: "2026-01-01T00:00:05Z" }));
    expect(t).toMatchObject({ state: "pending", attempt: 0, finished_at: undefined, progress: undefined });
    t = mergeTaskEvent(t, ev({ state: "processing", attempt: 1, at: "2026-01-01T00:00:06Z" }));
    expect(t).toMatchObject({ state: "processing", attempt: 1 });
    t = mergeTaskEvent(t, ev({ state: "failed", attempt: 1, error: "again", at: "2026-01-01T00:00:07Z" }));
    expect(t).toMatchObject({ state: "failed", last_error: "again", finished_at: "2026-01-01T00:00:07Z" });
  });

  it("without times, lets a final task go back to pending only", () => {
    const failed = task({ state: "failed", attempt: 1 });
    expect(mergeTaskEvent(failed, ev({ state: "pending", attempt: 0 })).state).toBe("pending");
    expect(mergeTaskEvent(failed, ev({ state: "processing", attempt: 1 }))).toBe(failed);
  });
});

describe("applyTaskEvents", () => {
  it("patches the rows it knows, in order, and returns the others as unseen", () => {
    const rows = [task({ id: "a" }), task({ id: "b" })];
    const u = applyTaskEvents(rows, [ev({ id: "b" }), ev({ id: "c" }), ev({ id: "b", state: "completed" })]);
    expect(u.changed).toBe(true);
    expect(u.rows[0]).toBe(rows[0]);
    expect(u.rows[1].state).toBe("completed");
    expect(rows[1].state).toBe("pending"); // the input is not changed
    expect(u.unseen.map((e) => e.id)).toEqual(["c"]);
  });

  it("keeps the same array when no row changes", () => {
    const rows = [task({ id: "a" })];
    const u = applyTaskEvents(rows, [ev({ id: "z" })]);
    expect(u.rows).toBe(rows);
    expect(u.changed).toBe(false);
  });
});

describe("mayMatch and taskEventsOf", () => {
  it("matches on state, queue and type", () => {
    const e = ev({ state: "failed", queue: "emails", type: "send" });
    expect(mayMatch(e, {})).toBe(true);
    expect(mayMatch(e, { state: "failed", queue: "emails", type: "send", q: "anything" })).toBe(true);
    expect(mayMatch(e, { state: "pending" })).toBe(false);
    expect(mayMatch(e, { queue: "default" })).toBe(false);
    expect(mayMatch(e, { type: "other" })).toBe(false);
  });

  it("picks task updates out of a batch", () => {
    expect(taskEventsOf([{ kind: "queue_update", queue: "q" }, { kind: "task_update", task: ev() }, { kind: "task_update" }])).toEqual([ev()]);
    // The event's time travels with the task update, for isStale.
    expect(taskEventsOf([{ kind: "task_update", task: ev(), at: "2026-01-01T00:00:00Z" }])[0].at).toBe("2026-01-01T00:00:00Z");
  });
});
