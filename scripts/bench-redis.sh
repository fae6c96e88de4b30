#!/usr/bin/env bash
# Runs a command against a Redis of its own: redis-server on a free
# loopback port, without persistence, in a temporary directory, stopped
# (and removed) when the command ends. The command sees the URL in
# TASKMILL_BACKEND (which `taskmill bench` reads as --backend) and in
# BENCH_REDIS_URL, and the address alone in BENCH_REDIS_ADDR (for
# bench/asynqcompare --redis). A benchmark then never touches the Redis
# on the default port, which may hold someone's data.
#
#   scripts/bench-redis.sh taskmill bench --mode process --tasks 200000 --concurrency 50
#   scripts/bench-redis.sh sh -c '/tmp/asynqcompare --redis "$BENCH_REDIS_ADDR" --db 1 --mode process'
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: scripts/bench-redis.sh COMMAND [ARGS...]" >&2
  exit 2
fi
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install -y redis-server)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/taskmill-bench-redis.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# redis-server takes no port 0, so try random high ports: one in use makes
# it exit at once, and the next try takes another.
for _ in $(seq 1 10); do
  port=$((20000 + RANDOM % 40000))
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then break 2; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
if [ -z "$pid" ]; then
  echo "could not start redis-server:" >&2
  cat "$dir/redis.log" >&2
  exit 1
fi
export BENCH_REDIS_ADDR="127.0.0.1:$port"
export BENCH_REDIS_URL="redis://127.0.0.1:$port/0"
export TASKMILL_BACKEND="$BENCH_REDIS_URL"
echo "bench-redis: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on $BENCH_REDIS_ADDR, no persistence" >&2
"$@"
