// check-dist: fails when the committed build in dist/ is not what the
// sources build to. It type-checks, builds into a temporary directory and
// compares every file byte for byte with dist/. The build is deterministic
// (content-hashed names, no timestamps, no source maps), so any difference
// means someone changed src/ without running `npm run build`.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
const committed = join(web, "dist");

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: web, stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`check-dist: ${cmd} ${args.join(" ")} failed`);
    process.exit(1);
  }
}

function files(dir) {
  const out = [];
  (function walk(d) {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  })(dir);
  return out;
}

const fresh = mkdtempSync(join(tmpdir(), "taskmill-dist-"));
try {
  run(join(web, "node_modules/.bin/tsc"), ["--noEmit"]);
  run(join(web, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], { TASKMILL_WEB_OUTDIR: fresh });
  const want = files(fresh);
  const have = files(committed);
  const problems = [];
  for (const f of want) if (!have.includes(f)) problems.push(`missing from web/dist: ${f}`);
  for (const f of have) if (!want.includes(f)) problems.push(`in web/dist but not built from the sources: ${f}`);
  for (const f of want) {
    if (have.includes(f) && !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f)))) problems.push(`differs from a fresh build: ${f}`);
  }
  if (problems.length) {
    console.error("check-dist: web/dist is stale:\n  " + problems.join("\n  "));
    console.error("Run `npm run build` in web/ and commit web/dist.");
    process.exit(1);
  }
  console.log(`check-dist: web/dist matches a fresh build (${want.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
