#!/usr/bin/env bash
# Counts the instructions a redis-server of its own runs for one
# `taskmill bench` run, under valgrind's callgrind: a figure that stays
# the same whatever else the machine is doing, unlike tasks per second,
# so two builds can be compared on a busy machine. The server runs about
# fifty times slower under valgrind, which makes the coalescers' batches
# larger than on a real run: compare builds with each other, not with
# figures taken without valgrind.
#
#   scripts/redis-instructions.sh ./taskmill enqueue 20000
#   scripts/redis-instructions.sh ./taskmill process 20000
#
# Prints the bench's JSON line, the script calls Redis counted, and the
# instructions per task. The counts start when the server answers and the
# bench begins (startup excluded); the first calls of each script compile
# it (EVAL after NOSCRIPT), a cost that shows in a short run. Set
# KEEP=FILE to keep the callgrind profile for callgrind_annotate, and
# BENCH_ARGS to pass more flags to the bench (e.g. "--batch 500").
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: scripts/redis-instructions.sh TASKMILL enqueue|process [TASKS] [CONCURRENCY]" >&2
  exit 2
fi
bin=$1 mode=$2 tasks=${3:-20000} conc=${4:-50}
for c in valgrind callgrind_control callgrind_annotate redis-server redis-cli; do
  command -v "$c" >/dev/null || { echo "$c not found (apt-get install -y valgrind redis-server)" >&2; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/taskmill-instr.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
port=$((20000 + RANDOM % 40000))
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" \
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no \
  >"$dir/redis.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/redis.log" >&2; exit 1; }
  sleep 0.1
done
callgrind_control -z "$pid" >/dev/null 2>&1
"$bin" bench --backend "redis://127.0.0.1:$port/0" --mode "$mode" --tasks "$tasks" \
  --concurrency "$conc" --keep --json ${BENCH_ARGS:-} | tail -1
callgrind_control -d "$pid" >/dev/null 2>&1
redis-cli -p "$port" info commandstats | grep -E '^cmdstat_eval' || true
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$pid" 2>/dev/null || true
pid=""
profile=$(ls "$dir"/cg.*.1)
total=$(callgrind_annotate "$profile" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "instructions: $total in all, $((total / tasks)) per task"
if [ -n "${KEEP:-}" ]; then cp "$profile" "$KEEP"; fi
