// bundle-size: what a first visit downloads, raw and gzip-compressed
// (level 9, as a server or CDN would serve it).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export function bundleSizes(distDir) {
  const rows = [];
  const add = (rel) => {
    const buf = readFileSync(join(distDir, rel));
    rows.push({ file: rel, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length });
  };
  add("index.html");
  for (const f of readdirSync(join(distDir, "assets")).sort()) add("assets/" + f);
  const sum = (pick) => rows.filter(pick).reduce((a, r) => ({ bytes: a.bytes + r.bytes, gzip: a.gzip + r.gzip }), { bytes: 0, gzip: 0 });
  return { rows, js: sum((r) => r.file.endsWith(".js")), css: sum((r) => r.file.endsWith(".css")), total: sum(() => true) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = bundleSizes(fileURLToPath(new URL("../dist", import.meta.url)));
  const kb = (n) => (n / 1024).toFixed(1).padStart(7) + " KiB";
  for (const r of s.rows) console.log(`${r.file.padEnd(36)} ${kb(r.bytes)}  gzip ${kb(r.gzip)}`);
  console.log(`${"total".padEnd(36)} ${kb(s.total.bytes)}  gzip ${kb(s.total.gzip)}`);
}
