import { describe, expect, it } from "vitest";
import { buildRequest } from "./Submit";
import { heartbeatAge, parseQueueWeights } from "./Workers";

const none = { queue: "", priority: "", delay: "", maxAttempts: "", timeout: "", uniqueKey: "" };

describe("buildRequest", () => {
  it("sends only the options that were set", () => {
    expect(buildRequest("fibonacci", { n: 35 }, none)).toEqual({ req: { type: "fibonacci", payload: { n: 35 } }, errors: {} });
    const r = buildRequest("sleep", { ms: 1 }, { queue: "emails", priority: "10", delay: "90", maxAttempts: "1", timeout: "2m", uniqueKey: " k " });
    expect(r.req).toEqual({ type: "sleep", payload: { ms: 1 }, queue: "emails", priority: 10, delay: "90s", max_attempts: 1, timeout: "2m", unique_key: "k" });
  });

  it("refuses bad options with the API's field names", () => {
    const r = buildRequest("x", undefined, { queue: "no spaces", priority: "1001", delay: "soon", maxAttempts: "0", timeout: "1 week", uniqueKey: "" });
    expect(r.req).toBeUndefined();
    expect(Object.keys(r.errors).sort()).toEqual(["delay", "max_attempts", "priority", "queue", "timeout"]);
  });
});

describe("parseQueueWeights", () => {
  it("reads queue=weight lists", () => {
    expect(parseQueueWeights("")).toEqual({ queues: undefined });
    expect(parseQueueWeights("default=3, emails")).toEqual({ queues: { default: 3, emails: 1 } });
    expect(parseQueueWeights("a=0").error).toMatch(/weight of a/);
    expect(parseQueueWeights("a=1=2").error).toBeTruthy();
    expect(parseQueueWeights("bad name=1").error).toBeTruthy();
  });
});

describe("heartbeatAge", () => {
  it("is the time since the last heartbeat, never negative (clock skew)", () => {
    const w = { id: "w", host: "h", pid: 1, queues: [], concurrency: 1, running: [], started_at: "", last_heartbeat: "2026-01-01T00:00:10Z", stopping: false };
    expect(heartbeatAge(w, Date.parse("2026-01-01T00:00:25Z"))).toBe(15_000);
    expect(heartbeatAge(w, Date.parse("2026-01-01T00:00:05Z"))).toBe(0);
  });
});
