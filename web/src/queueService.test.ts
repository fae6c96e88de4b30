import { describe, expect, it } from "vitest";
import type { QueueInfo } from "./api/types";
import { hasServiceGap, isEmptyQueue, serviceGap, waitingCount } from "./queueService";

function queue(over: Partial<QueueInfo>): QueueInfo {
  return { name: "q", paused: false, counts: {}, ...over };
}

describe("serviceGap", () => {
  const cases: { name: string; q: QueueInfo; want: { noWorker: boolean; types: string[] } }[] = [
    { name: "an old server that does not say", q: queue({ counts: { pending: 3 } }), want: { noWorker: false, types: [] } },
    { name: "served, every type run", q: queue({ counts: { pending: 3 }, served: true, unserved_types: [] }), want: { noWorker: false, types: [] } },
    { name: "served, unserved_types null", q: queue({ counts: { pending: 3 }, served: true, unserved_types: null }), want: { noWorker: false, types: [] } },
    { name: "served, two types no worker runs", q: queue({ counts: { pending: 3 }, served: true, unserved_types: ["a", "b"] }), want: { noWorker: false, types: ["a", "b"] } },
    // Not served: the server lists every pending type; the one queue warning replaces them.
    { name: "not served, pending work", q: queue({ counts: { pending: 2 }, served: false, unserved_types: ["a"] }), want: { noWorker: true, types: [] } },
    { name: "not served, only scheduled work", q: queue({ counts: { scheduled: 1 }, served: false, unserved_types: [] }), want: { noWorker: true, types: [] } },
    { name: "not served, only retrying work", q: queue({ counts: { retrying: 1 }, served: false }), want: { noWorker: true, types: [] } },
    { name: "not served, nothing waits", q: queue({ counts: { completed: 9, failed: 1, processing: 0 }, served: false }), want: { noWorker: false, types: [] } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const g = serviceGap(c.q);
      expect(g).toEqual(c.want);
      expect(hasServiceGap(g)).toBe(c.want.noWorker || c.want.types.length > 0);
    });
  }
});

describe("waitingCount", () => {
  it("adds pending, scheduled and retrying, nothing else", () => {
    expect(waitingCount(queue({ counts: { pending: 1, scheduled: 2, retrying: 4, processing: 8, completed: 16, failed: 32, canceled: 64 } }))).toBe(7);
  });
});

describe("isEmptyQueue", () => {
  it("is true only when no state holds a task", () => {
    expect(isEmptyQueue(queue({ counts: {} }))).toBe(true);
    expect(isEmptyQueue(queue({ counts: { pending: 0, completed: 0 } }))).toBe(true);
    for (const s of ["pending", "scheduled", "processing", "retrying", "completed", "failed", "canceled"] as const) {
      expect(isEmptyQueue(queue({ counts: { [s]: 1 } })), s).toBe(false);
    }
  });
});
