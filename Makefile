# taskmill — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/taskmill

.PHONY: help run build test test-go test-web test-deploy lint fmt vet bench fuzz web screenshots clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

run: ## run the whole system: API, dashboard, workers, embedded store on :8080
	$(GO) run ./cmd/taskmill serve

build: ## build the binary into bin/taskmill
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/taskmill

test: ## run every test: Go (with -race), Redis, crash, fuzz seeds, dashboard in Chromium
	./scripts/test-all.sh

test-go: ## run the Go tests with -race
	$(GO) test -race -count=1 ./...

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

fuzz: ## run each fuzz target for 20s
	./scripts/fuzz.sh 20s

clean: ## remove build output and the default data dir
	rm -rf bin taskmill-data
