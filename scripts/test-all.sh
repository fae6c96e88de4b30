#!/usr/bin/env bash
# The one command that runs every test (`make test`). CI calls it too.
# Redis tests need redis-server and the dashboard tests need chromium and
# node; .ci/run installs them on a fresh machine. Without them, and with CI
# unset, those tests skip and say so; with CI=true they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== fuzz targets (bounded)"
./scripts/fuzz.sh "${FUZZTIME:-5s}"

if command -v node >/dev/null && command -v chromium >/dev/null; then
  echo "== dashboard tests"
  ./scripts/test-web.sh
elif [ -n "${CI:-}" ]; then
  echo "CI is set but node or chromium is missing: the dashboard tests cannot run" >&2
  exit 1
else
  echo "!! SKIPPING the dashboard tests: node or chromium is not installed (apt-get install -y chromium nodejs npm)" >&2
fi

echo "== go test -race"
go test -race -count=1 -timeout 30m ./...

# The deploy/k8s manifests against the Kubernetes and KEDA API types. Its
# own module (deploy/check/go.mod) keeps k8s.io and KEDA out of taskmill's.
echo "== deploy manifests (deploy/check)"
(cd deploy/check && go vet ./... && go test -count=1 ./...)
