import { describe, expect, it } from "vitest";
import { bucketSeries, niceMax, totals } from "./charts";

const now = Date.parse("2026-01-01T10:30:20Z");

describe("bucketSeries", () => {
  it("lays out one bar per minute ending with the current one, zeros where nothing finished", () => {
    const s = bucketSeries(
      [
        { minute: "2026-01-01T10:30:00Z", completed: 5, failed: 1 },
        { minute: "2026-01-01T10:28:00Z", completed: 2, failed: 0 },
        { minute: "2026-01-01T09:00:00Z", completed: 99, failed: 99 }, // out of range
      ],
      5,
      now,
    );
    expect(s.map((p) => new Date(p.t).toISOString().slice(11, 16))).toEqual(["10:26", "10:27", "10:28", "10:29", "10:30"]);
    expect(s.map((p) => [p.completed, p.failed])).toEqual([
      [0, 0],
      [0, 0],
      [2, 0],
      [0, 0],
      [5, 1],
    ]);
  });

  it("sums long spans into at most maxBars bars", () => {
    const buckets = Array.from({ length: 1440 }, (_, i) => ({ minute: new Date(Date.parse("2026-01-01T10:30:00Z") - i * 60_000).toISOString(), completed: 1, failed: 0 }));
    const s = bucketSeries(buckets, 1440, now, 60);
    expect(s).toHaveLength(60);
    expect(s.every((p) => p.completed === 24)).toBe(true);
    expect(totals(s).completed).toBe(1440);
  });
});

describe("totals and niceMax", () => {
  it("adds up and rates failures", () => {
    const t = totals([
      { t: 0, completed: 3, failed: 1 },
      { t: 1, completed: 0, failed: 0 },
      { t: 2, completed: 6, failed: 2 },
    ]);
    expect(t).toEqual({ completed: 9, failed: 3, failureRate: 0.25, peak: 8 });
    expect(Number.isNaN(totals([]).failureRate)).toBe(true);
  });

  it("rounds chart tops to 1, 2 or 5 times a power of ten", () => {
    expect([0, 0.3, 1, 3, 7, 12, 180, 999].map(niceMax)).toEqual([1, 0.5, 1, 5, 10, 20, 200, 1000]);
  });
});
