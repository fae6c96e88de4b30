# taskmill — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/taskmill
# Stamped into the binary for `taskmill version`; a build outside git
# falls back to what the Go toolchain records.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: help run build test test-go test-web soak test-deploy lint fmt vet bench fuzz web screenshots clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

run: ## run the whole system: API, dashboard, workers, embedded store on :8080
	$(GO) run ./cmd/taskmill serve

build: ## build the binary into bin/taskmill (version and commit stamped in)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/taskmill

test: ## every check and test: gofmt, vet, staticcheck, each fuzz target for a fixed 2000 executions, the dashboard (Vitest + Chromium), then go test -race (Redis, crash, multi-process); every step runs, times printed
	./scripts/test-all.sh

test-go: ## run the Go tests with -race
	$(GO) test -race -count=1 ./...

soak: ## differential test: 1,000,000 random operations per backend against the reference model (TASKMILL_DIFF_OPS to change; Redis needs redis-server)
	TASKMILL_DIFF_OPS=$${TASKMILL_DIFF_OPS:-1000000} TASKMILL_DIFF_PARALLEL=$${TASKMILL_DIFF_PARALLEL:-2} $(GO) test -count=1 -timeout 12h -run 'TestDifferential' -v ./backend/...

test-deploy: ## check deploy/k8s against the Kubernetes and KEDA schemas (own module), and run the binary as deploy/ ships it
	cd deploy/check && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(GO) test -race -count=1 -run 'TestDockerfile|TestComposeFile|TestKubernetesManifests|TestComposeRunsAsShipped|TestKubernetesRunsAsShipped|TestImageDataDirIsAVolume' ./cmd/taskmill/

test-web: ## run the dashboard tests (Vitest + Playwright in Chromium)
	./scripts/test-web.sh

lint: vet ## gofmt check, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

bench: ## Go benchmarks of the hot path
	$(GO) test -run '^$$' -bench . -benchtime 3s ./...

web: ## rebuild the dashboard into web/dist (commit the result)
	cd web && npm ci --no-audit --no-fund && npm run build

screenshots: ## run the dashboard end-to-end tests, saving screenshots into docs/screenshots
	TASKMILL_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots ./scripts/test-web.sh

fuzz: ## explore: run each fuzz target for 20s each (time-based; not part of make test)
	./scripts/fuzz.sh 20s

clean: ## remove build output and the default data dir
	rm -rf bin taskmill-data
