import { describe, expect, it } from "vitest";
import { findImages, firstLine, formatDuration, formatPercent, normalizeDuration, prettyJSON, shortId, timeAgo } from "./format";

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [850, "850ms"],
    [4249, "4.2s"],
    [42_000, "42s"],
    [185_000, "3m 05s"],
    [7_800_000, "2h 10m"],
    [3 * 86_400_000 + 4 * 3_600_000, "3d 4h"],
    [-1500, "-1.5s"],
    [NaN, "–"],
  ])("%d ms → %s", (ms, want) => expect(formatDuration(ms)).toBe(want));
});

describe("timeAgo", () => {
  const now = Date.parse("2026-01-01T00:10:00Z");
  it("says how long ago, or how soon", () => {
    expect(timeAgo("2026-01-01T00:09:59.5Z", now)).toBe("just now");
    expect(timeAgo("2026-01-01T00:09:48Z", now)).toBe("12s ago");
    expect(timeAgo("2026-01-01T00:15:00Z", now)).toBe("in 5m 00s");
    expect(timeAgo(undefined, now)).toBe("–");
    expect(timeAgo("garbage", now)).toBe("–");
  });
});

describe("normalizeDuration", () => {
  it("accepts Go durations and bare seconds", () => {
    expect(normalizeDuration("")).toEqual({});
    expect(normalizeDuration("30")).toEqual({ value: "30s" });
    expect(normalizeDuration(" 1m 30s ")).toEqual({ value: "1m30s" });
    expect(normalizeDuration("1.5h")).toEqual({ value: "1.5h" });
    expect(normalizeDuration("250ms")).toEqual({ value: "250ms" });
    expect(normalizeDuration("5 minutes").error).toBeTruthy();
    expect(normalizeDuration("-5s").error).toBeTruthy();
  });
});

describe("small formatters", () => {
  it("formats percentages, ids and first lines", () => {
    expect(formatPercent(0.5)).toBe("50%");
    expect(formatPercent(0.004)).toBe("0.4%");
    expect(formatPercent(NaN)).toBe("–");
    expect(shortId("01a2058c-e0c0-7a96-ab22-0c4bee3e9638")).toBe("…0c4bee3e9638");
    expect(shortId("short")).toBe("short");
    expect(firstLine("panic: boom\ngoroutine 1 [running]:")).toBe("panic: boom");
  });

  it("cuts long strings in JSON so a base64 image does not flood the page", () => {
    const big = "A".repeat(10_000);
    const text = prettyJSON({ image: big, n: 1 });
    expect(text.length).toBeLessThan(300);
    expect(text).toContain("9.8 KiB in all");
    expect(text).toContain('"n": 1');
  });
});

describe("findImages", () => {
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  it("finds an image with its declared media type", () => {
    expect(findImages({ image: png, media_type: "image/png", width: 1 })).toEqual([
      { path: "result.image", src: "data:image/png;base64," + png, mediaType: "image/png" },
    ]);
    expect(findImages({ data: "/9j/4AAQSkZJRgABAQAAAQABAAD", format: "jpeg" })[0].mediaType).toBe("image/jpeg");
  });

  it("finds data: URLs and bare base64 by its first bytes, also in lists", () => {
    const found = findImages({ thumbs: [{ url: "data:image/webp;base64,UklGRiIAAABXRUJQ" }, png] });
    expect(found.map((f) => [f.path, f.mediaType])).toEqual([
      ["result.thumbs[0].url", "image/webp"],
      ["result.thumbs[1]", "image/png"],
    ]);
  });

  it("finds nothing in results without images", () => {
    expect(findImages({ n: 35, value: "9227465", digits: 7 })).toEqual([]);
    expect(findImages({ text: "hello", media_type: "text/plain" })).toEqual([]);
    expect(findImages(null)).toEqual([]);
    expect(findImages("data:text/html;base64,PGI+")).toEqual([]);
  });
});
