import { afterEach, describe, expect, it, vi } from "vitest";
import { bulkByFilter, bulkByIds, describeBulk, eligible, runBulk } from "./bulk";

describe("eligible", () => {
  it("cancels what is not final, retries failed and canceled, deletes what is final", () => {
    const states = ["pending", "scheduled", "processing", "retrying", "completed", "failed", "canceled"] as const;
    const pick = (a: "cancel" | "retry" | "delete") => states.filter((state) => eligible(a, { state }));
    expect(pick("cancel")).toEqual(["pending", "scheduled", "processing", "retrying"]);
    expect(pick("retry")).toEqual(["failed", "canceled"]);
    expect(pick("delete")).toEqual(["completed", "failed", "canceled"]);
  });
});

describe("runBulk", () => {
  it("runs every call, never more than the limit at once, and collects failures", async () => {
    let running = 0;
    let peak = 0;
    const progress: number[] = [];
    const r = await runBulk(
      ["a", "b", "c", "d", "e", "f", "g"],
      async (id) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((res) => setTimeout(res, 5));
        running--;
        if (id === "c" || id === "f") throw new Error(`no ${id}`);
      },
      { concurrency: 3, onProgress: (d) => progress.push(d) },
    );
    expect(peak).toBe(3);
    expect(r.ok.sort()).toEqual(["a", "b", "d", "e", "g"]);
    expect(r.failed.map((f) => f.id).sort()).toEqual(["c", "f"]);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(describeBulk("retry", r)).toMatch(/^Retried 5 tasks; 2 failed \(no [cf]\)$/);
  });

  it("does nothing for an empty selection", async () => {
    expect(await runBulk([], async () => {})).toEqual({ ok: [], failed: [] });
  });
});

describe("bulkByIds and bulkByFilter", () => {
  afterEach(() => vi.unstubAllGlobals());
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });

  it("sends the ids in one bulk call", async () => {
    const fetchMock = vi.fn(async () => json(200, { action: "cancel", matched: 2, succeeded: 1, ids: ["a"], failed: [{ id: "b", code: "task_final", message: "already final" }] }));
    vi.stubGlobal("fetch", fetchMock);
    const r = await bulkByIds("cancel", ["a", "b"]);
    expect(r).toEqual({ ok: ["a"], failed: [{ id: "b", error: "already final" }] });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/tasks/bulk");
    expect(JSON.parse(init.body as string)).toEqual({ action: "cancel", filter: { ids: ["a", "b"] } });
  });

  it("falls back to one call per task on a server without the bulk endpoint", async () => {
    const urls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        urls.push(url);
        return url === "/api/tasks/bulk" ? json(405, { error: { code: "method_not_allowed", message: "no" } }) : json(200, { id: "x" });
      }),
    );
    const r = await bulkByIds("retry", ["a", "b"]);
    expect(r.ok.sort()).toEqual(["a", "b"]);
    expect(urls.slice(1).sort()).toEqual(["/api/tasks/a/retry", "/api/tasks/b/retry"]);
  });

  it("follows next_cursor until the scan ends", async () => {
    const bodies: unknown[] = [];
    const replies = [
      { ids: ["1", "2"], failed: [], next_cursor: "c1" },
      { ids: ["3"], failed: [], next_cursor: "" },
    ];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_url: string, init: RequestInit) => {
        bodies.push(JSON.parse(init.body as string));
        return json(200, { action: "retry", matched: 0, succeeded: 0, ...replies[bodies.length - 1] });
      }),
    );
    const r = await bulkByFilter("retry", { state: "failed", queue: "q" });
    expect(r.ok).toEqual(["1", "2", "3"]);
    expect(bodies).toEqual([
      { action: "retry", filter: { state: "failed", queue: "q" }, limit: 1000 },
      { action: "retry", filter: { state: "failed", queue: "q", cursor: "c1" }, limit: 1000 },
    ]);
  });
});
