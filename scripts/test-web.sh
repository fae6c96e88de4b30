#!/usr/bin/env bash
# Dashboard tests: the committed build must match the sources (check-dist:
# type-check, rebuild into a temporary directory, compare byte for byte),
# then Vitest (unit and component tests in jsdom) and the end-to-end run:
# a real `taskmill serve` built from this checkout, driven in Debian's
# headless Chromium through playwright-core. That run also takes
# screenshots (into docs/screenshots/ with `make screenshots`) and prints
# the first-render and paging numbers.
#
# Needs node >= 20.19, npm, go and chromium (CHROMIUM_PATH, default
# /usr/bin/chromium). No browser is downloaded.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -f package.json ]; then
  echo "web/package.json missing: no dashboard to test" >&2
  exit 1
fi
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "chromium not found at $chromium (apt-get install -y chromium, or set CHROMIUM_PATH)" >&2
  exit 1
fi
echo "== web: npm ci"
npm ci --no-audit --no-fund
echo "== web: committed build matches the sources"
npm run check-dist
echo "== web: bundle size"
npm run --silent size
echo "== web: vitest (unit, components) and end-to-end in chromium"
npm test
