// A real `taskmill serve` for the end-to-end run: built from this checkout
// (or TASKMILL_BIN), on a free loopback port, with its own data directory.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(__dirname, "..", "..");

/** buildTaskmill compiles ./cmd/taskmill into dir and returns the binary's path. */
export function buildTaskmill(dir: string): string {
  if (process.env.TASKMILL_BIN) return process.env.TASKMILL_BIN;
  const out = join(dir, "taskmill");
  const r = spawnSync("go", ["build", "-o", out, "./cmd/taskmill"], { cwd: repoRoot, stdio: "inherit", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`go build ./cmd/taskmill failed (exit ${r.status})`);
  return out;
}

export interface Server {
  url: string;
  /** everything the server wrote to stderr, for failure reports */
  log: () => string;
  /** stop sends SIGTERM and waits for the exit (SIGKILL after 20 s) */
  stop: () => Promise<void>;
}

/**
 * startServer runs `taskmill serve` and resolves once it logs its
 * "taskmill serving … url=http://…" line. addr defaults to port 0: the
 * kernel picks a free port and the log line tells which.
 */
export async function startServer(bin: string, dataDir: string, opts: { addr?: string; extraArgs?: string[] } = {}): Promise<Server> {
  // --backend-timeout 30s: on a loaded CI machine one fsync of the
  // embedded store can take longer than the default 2 s, and the server
  // would then answer 503 (as it should; server tests cover that bound).
  // These tests are about the dashboard, so they give the store more time.
  const args = ["serve", "--addr", opts.addr ?? "127.0.0.1:0", "--data", dataDir, "--workers", "2", "--shutdown-timeout", "5s",
    "--backend-timeout", "30s", ...(opts.extraArgs ?? [])];
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error("taskmill serve did not start in 60 s:\n" + log)), 60_000);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      log += chunk;
      const m = /taskmill serving.*url=(http:\/\/[^\s"]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`taskmill serve exited (${code}) before serving:\n${log}`));
    });
  });
  return {
    url,
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
