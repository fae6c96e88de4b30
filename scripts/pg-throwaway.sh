#!/usr/bin/env bash
# Start a throwaway PostgreSQL for benchmarks: initdb into a fresh temp
# dir, the server on a free loopback port (never 5432), fsync and
# synchronous_commit on (the durability the numbers claim). Prints the
# URL; stop it with: scripts/pg-throwaway.sh stop DIR
#   scripts/pg-throwaway.sh [start] [shared_buffers]   → prints DIR and URL
#   scripts/pg-throwaway.sh stop DIR
set -euo pipefail
bindir=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-start}" = stop ]; then
  as "$bindir/pg_ctl" stop -D "$2/data" -m fast >/dev/null
  rm -rf "$2"
  exit 0
fi
sb=${2:-256MB}
dir=$(mktemp -d /tmp/pg-throwaway-XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 \
  -c fsync=on -c synchronous_commit=on -c shared_buffers=$sb -c max_connections=300" >/dev/null
echo "$dir postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
