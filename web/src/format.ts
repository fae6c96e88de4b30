// Formatting shared by every page: durations, ages, numbers, JSON, and
// finding images in task results.

/** formatDuration writes a span of milliseconds the short way: 850ms, 4.2s, 3m 05s, 2h 10m, 3d 4h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  const neg = ms < 0;
  const a = Math.abs(ms);
  let s: string;
  if (a < 1000) s = `${Math.round(a)}ms`;
  else if (a < 10_000) s = `${(Math.floor(a / 100) / 10).toFixed(1)}s`;
  else if (a < 60_000) s = `${Math.floor(a / 1000)}s`;
  else if (a < 3_600_000) s = `${Math.floor(a / 60_000)}m ${String(Math.floor((a % 60_000) / 1000)).padStart(2, "0")}s`;
  else if (a < 86_400_000) s = `${Math.floor(a / 3_600_000)}h ${String(Math.floor((a % 3_600_000) / 60_000)).padStart(2, "0")}m`;
  else s = `${Math.floor(a / 86_400_000)}d ${Math.floor((a % 86_400_000) / 3_600_000)}h`;
  return neg ? "-" + s : s;
}

/** since returns the milliseconds from iso to now, or NaN for a missing or malformed time. */
export function since(iso: string | undefined, now: number = Date.now()): number {
  if (!iso) return NaN;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? NaN : now - t;
}

/** timeAgo writes how long ago iso was: "just now", "12s ago", "in 5m 00s". */
export function timeAgo(iso: string | undefined, now: number = Date.now()): string {
  const d = since(iso, now);
  if (Number.isNaN(d)) return "–";
  if (Math.abs(d) < 1000) return "just now";
  return d > 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`;
}

/** between returns the span from a to b (b defaults to now) in ms. */
export function between(a: string | undefined, b?: string, now: number = Date.now()): number {
  if (!a) return NaN;
  const start = Date.parse(a);
  const end = b ? Date.parse(b) : now;
  return end - start;
}

export function formatDateTime(iso: string | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

const nf = new Intl.NumberFormat("en-US");
export function formatCount(n: number | undefined): string {
  return nf.format(n ?? 0);
}

export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return "–";
  const p = fraction * 100;
  return (p > 0 && p < 1 ? p.toFixed(1) : Math.round(p).toString()) + "%";
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** shortId keeps the tail of an id, the part that differs between tasks submitted together (UUIDv7 starts with the time). */
export function shortId(id: string): string {
  return id.length > 13 ? "…" + id.slice(-12) : id;
}

/** Go's time.ParseDuration units, which the API reads for delay and timeout. */
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;

/** normalizeDuration accepts "30s", "1m30s", "1.5h" or a bare number of seconds and returns what the API takes, or an error. */
export function normalizeDuration(text: string): { value?: string; error?: string } {
  const t = text.trim().replace(/\s+/g, "");
  if (t === "") return {};
  if (/^\d+(\.\d+)?$/.test(t)) return { value: t + "s" };
  if (!GO_DURATION.test(t)) return { error: 'write a duration like 30s, 5m or 1h30m' };
  return { value: t };
}

/** A long string in JSON (a base64 image, a big text) is shown cut, so that a page stays light. */
export function prettyJSON(value: unknown, maxString = 400): string {
  if (value === undefined) return "";
  return JSON.stringify(
    value,
    (_k, v) => (typeof v === "string" && v.length > maxString ? `${v.slice(0, 80)}… (${formatBytes(v.length)} in all)` : v),
    2,
  );
}

export interface FoundImage {
  /** where in the value: "result.thumbnail" */
  path: string;
  src: string;
  mediaType: string;
}

const MAGIC: [string, string][] = [
  ["iVBORw0KGgo", "image/png"],
  ["/9j/", "image/jpeg"],
  ["R0lGOD", "image/gif"],
  ["UklGR", "image/webp"],
  ["PHN2Zy", "image/svg+xml"],
];

const IMAGE_MEDIA = /^image\/(png|jpeg|jpg|gif|webp|bmp|avif|svg\+xml)$/i;

function sniff(s: string): string | undefined {
  for (const [prefix, type] of MAGIC) if (s.startsWith(prefix)) return type;
  return undefined;
}

const MEDIA_KEYS = ["media_type", "mediaType", "content_type", "contentType", "mime_type", "mimeType", "mime", "format"];

/**
 * findImages looks through a task result for images: data: URLs, base64
 * strings that start like a PNG/JPEG/GIF/WebP, and objects that pair a
 * base64 string with a media type ({"image": "…", "media_type": "image/png"}).
 * It is tolerant by design: task types are written by many people.
 */
export function findImages(value: unknown, path = "result", out: FoundImage[] = [], depth = 0): FoundImage[] {
  if (depth > 6 || out.length >= 12 || value === null || value === undefined) return out;
  if (typeof value === "string") {
    const m = /^data:(image\/[a-z0-9.+-]+);base64,/i.exec(value);
    if (m && IMAGE_MEDIA.test(m[1])) out.push({ path, src: value, mediaType: m[1] });
    else if (value.length >= 32) {
      const t = sniff(value);
      if (t) out.push({ path, src: `data:${t};base64,${value}`, mediaType: t });
    }
    return out;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => findImages(v, `${path}[${i}]`, out, depth + 1));
    return out;
  }
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    let declared = MEDIA_KEYS.map((k) => obj[k]).find((v) => typeof v === "string") as string | undefined;
    if (declared && !declared.includes("/")) declared = "image/" + declared.toLowerCase(); // "format": "png"
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === "string" && declared && IMAGE_MEDIA.test(declared) && v.length >= 16 && !MEDIA_KEYS.includes(k) && /^[A-Za-z0-9+/=\s]+$/.test(v.slice(0, 256))) {
        out.push({ path: `${path}.${k}`, src: `data:${declared};base64,${v.replace(/\s+/g, "")}`, mediaType: declared });
      } else findImages(v, `${path}.${k}`, out, depth + 1);
    }
  }
  return out;
}

/** firstLine is the headline of an error message or stack trace. */
export function firstLine(s: string | undefined): string {
  if (!s) return "";
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}
