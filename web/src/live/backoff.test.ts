import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff";

describe("backoffDelay", () => {
  it("doubles from the initial delay up to the cap, without jitter", () => {
    const d = (n: number) => backoffDelay(n, { jitter: 0 });
    expect([0, 1, 2, 3, 4, 5, 6].map(d)).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    expect(d(1000)).toBe(15000); // no overflow on long outages
  });

  it("keeps jittered delays between half and all of the base", () => {
    expect(backoffDelay(2, { random: () => 0 })).toBe(1000);
    expect(backoffDelay(2, { random: () => 0.999999 })).toBe(2000);
    for (let i = 0; i < 200; i++) {
      const v = backoffDelay(3);
      expect(v).toBeGreaterThanOrEqual(2000);
      expect(v).toBeLessThanOrEqual(4000);
    }
  });

  it("treats bad attempt numbers as the first", () => {
    expect(backoffDelay(-3, { jitter: 0 })).toBe(500);
    expect(backoffDelay(NaN, { jitter: 0 })).toBe(500);
  });
});
