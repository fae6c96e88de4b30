#!/usr/bin/env bash
# Dashboard tests: the committed build must match the sources, then Vitest
# and the Playwright end-to-end run against a real `taskmill serve` in
# headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -f package.json ]; then
  echo "web/package.json missing: no dashboard to test" >&2
  exit 1
fi
npm ci --no-audit --no-fund
npm run check-dist
npm test
