import { describe, expect, it } from "vitest";
import { describeBulk, eligible, runBulk } from "./bulk";

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
