import { defineConfig } from "vitest/config";

// End-to-end: a real `taskmill serve` built from this checkout, driven in
// Debian's headless Chromium through playwright-core. One file, run
// serially, with timeouts sized for a loaded 2-core machine.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 900_000, // the first hook compiles ./cmd/taskmill, which takes minutes on a cold cache
    reporters: ["verbose"],
  },
});
