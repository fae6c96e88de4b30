#!/usr/bin/env bash
# Runs every Go fuzz target in the module, each for a bounded amount of work.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 2000x)
#
# FUZZTIME is what `go test -fuzztime` takes: a count of executions such as
# 2000x (what `make test` uses: its length does not depend on how busy the
# machine is) or a duration such as 20s (what `make fuzz` uses, for longer,
# time-boxed exploration outside CI). Every target runs even when one fails;
# the script exits non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-2000x}
count=0
failed=()
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== fuzz $pkg $target ($fuzztime)"
    # -parallel 1: with a count of executions the work is fixed, and one
    # worker keeps the run from competing with itself on a two-core machine.
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 -timeout 10m "$pkg"; then
      failed+=("$pkg.$target")
    fi
    count=$((count + 1))
  done
done
echo "fuzzed $count targets ($fuzztime each)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz failures: ${failed[*]}" >&2
  exit 1
fi
