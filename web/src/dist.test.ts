// The committed build: what index.html loads exists, and a first visit
// stays within its size budget (gzip, as served).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { bundleSizes } from "../scripts/bundle-size.mjs";

const dist = join(__dirname, "..", "dist");

/** Budgets for what the first page load downloads, gzip-compressed. React 19 alone is about 66 KiB. */
const JS_BUDGET = 110 * 1024;
const CSS_BUDGET = 12 * 1024;

describe("web/dist", () => {
  it("loads only files that exist, from hashed names under /assets/", () => {
    const html = readFileSync(join(dist, "index.html"), "utf8");
    const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(refs.some((r) => r.endsWith(".js"))).toBe(true);
    expect(refs.some((r) => r.endsWith(".css"))).toBe(true);
    for (const r of refs) {
      expect(r).toMatch(/-[A-Za-z0-9_-]{8}\.(js|css)$/);
      expect(existsSync(join(dist, r))).toBe(true);
    }
  });

  it("stays within the size budget", () => {
    const s = bundleSizes(dist);
    expect(s.js.gzip).toBeLessThan(JS_BUDGET);
    expect(s.css.gzip).toBeLessThan(CSS_BUDGET);
  });
});
