import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The build is committed in dist/ and embedded in the Go binary, and CI
// rebuilds it to check that it is not stale (scripts/check-dist.mjs), so it
// must be deterministic: content-hashed names, no source maps, no
// timestamps. TASKMILL_WEB_OUTDIR lets that check build elsewhere.
export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: process.env.TASKMILL_WEB_OUTDIR || "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Every browser the dashboard supports has module preload.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` proxies the API to a running `taskmill serve`.
    proxy: {
      "/api": { target: "http://127.0.0.1:8080", ws: true },
      "/healthz": "http://127.0.0.1:8080",
      "/readyz": "http://127.0.0.1:8080",
    },
  },
});
