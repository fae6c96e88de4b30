#!/usr/bin/env bash
# The one command that runs every test (`make test`). CI calls it too.
#
# Every step runs even when an earlier one failed, so one run shows every
# failure; the script then exits non-zero and prints how long each step
# took. Nothing here depends on how busy the machine is: fuzz targets run
# a fixed number of executions (FUZZEXECS, default 2000 each), not a time.
#
# Redis, PostgreSQL, RabbitMQ and the dashboard tests need their programs
# (redis-server, initdb/pg_ctl, rabbitmq-server, node and chromium); .ci/run
# installs them on a fresh machine. Without them, and with CI unset, those
# tests skip and say so; with CI=true they fail instead.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
timings=()
step() {
  local name=$1; shift
  echo "== $name"
  local start=$SECONDS
  if "$@"; then
    timings+=("$(printf '%5ds  ok    %s' $((SECONDS - start)) "$name")")
  else
    timings+=("$(printf '%5ds  FAIL  %s' $((SECONDS - start)) "$name")")
    failed+=("$name")
    echo "!! step failed: $name" >&2
  fi
}

gofmt_check() {
  local out
  out=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$out" ]; then echo "gofmt needed:"; echo "$out"; return 1; fi
}

web_tests() {
  if command -v node >/dev/null && command -v chromium >/dev/null; then
    ./scripts/test-web.sh
  elif [ -n "${CI:-}" ]; then
    echo "CI is set but node or chromium is missing: the dashboard tests cannot run" >&2
    return 1
  else
    echo "!! SKIPPING the dashboard tests: node or chromium is not installed (apt-get install -y chromium nodejs npm)" >&2
  fi
}

step "gofmt" gofmt_check
step "go vet" go vet ./...
step "staticcheck" go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
step "fuzz targets (${FUZZEXECS:-2000} executions each)" ./scripts/fuzz.sh "${FUZZEXECS:-2000}x"
step "dashboard tests" web_tests
step "go test -race" go test -race -count=1 -timeout 30m ./...
# The deploy/k8s manifests against the Kubernetes and KEDA API types. Its
# own module (deploy/check/go.mod) keeps k8s.io and KEDA out of taskmill's.
step "deploy manifests (deploy/check)" bash -c 'cd deploy/check && go vet ./... && go test -count=1 ./...'

echo
echo "== step times"
printf '%s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed[*]}" >&2
  exit 1
fi
echo "all steps passed"
