# docker-forge: build, install, test, bench, lint.
# The compose SDK makes a cold build take about a minute on 2 cores; the Go
# build and module caches are kept between runs.

GO       ?= go
BIN      := bin/docker-forge
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/docker-forge/docker-forge.Version=$(VERSION)
export CGO_ENABLED ?= 0
# bench pipes each run through tee: a failing benchmark must fail make.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Root running in a checkout owned by someone else makes VCS stamping fail.
export GOFLAGS ?= -buildvcs=false

.PHONY: load crash serve build install test test-unit test-e2e services bench bench-smoke lint fuzz clean vendor-web

serve: ## set up a fresh machine (Docker, plugin, secret) and run `docker forge serve`
	./scripts/serve.sh

build: ## static binary in bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-forge

install: build ## install the plugin for the current user (./install.sh --system for everyone)
	./install.sh --binary $(BIN)

services: ## install (if missing) and start the Docker engine the tests use
	./scripts/services.sh

test: services ## the whole suite: unit tests, the real-engine e2e tests, then each benchmark once (bench-smoke)
	FORGE_E2E=1 $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory bench-smoke

test-unit: ## unit tests only (no engine)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

test-e2e: services
	FORGE_E2E=1 $(GO) test -count=1 -timeout 20m -v ./e2e

BENCH_OUT ?= bench.out
bench: services ## every benchmark, then the table of figures against their goals (BENCHMARKS.md); FORGE_BENCH_WATCHTOWER=/path/to/watchtower adds the watchtower comparison
	@: > $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 5x ./webhook ./ledger | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench BenchmarkQuery -benchtime 200x ./collector | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench BenchmarkFirstPage -benchtime 50x ./web | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench BenchmarkLedgerGrowth -benchtime 1x -timeout 30m ./collector | tee -a $(BENCH_OUT)
	FORGE_E2E=1 $(GO) test -run '^$$' -bench 'Benchmark[^I]' -benchtime 10x -timeout 30m ./e2e | tee -a $(BENCH_OUT)
	FORGE_E2E=1 $(GO) test -run '^$$' -bench BenchmarkIdleFootprint -benchtime 1x -timeout 10m ./e2e | tee -a $(BENCH_OUT)
	$(MAKE) --no-print-directory load | tee -a $(BENCH_OUT)
	@echo; $(GO) run ./scripts/benchtable $(BENCH_OUT)

bench-smoke: services ## each benchmark of BENCHMARKS.md once, on its smallest case, and the table: proves they run (CI); the figures mean nothing
	@: > bench-smoke.out
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./webhook ./ledger | tee -a bench-smoke.out
	$(GO) test -count=1 -run '^$$' -bench BenchmarkQuery -benchtime 2x ./collector | tee -a bench-smoke.out
	FORGE_E2E=1 FORGE_BENCH_SMOKE=1 $(GO) test -count=1 -run '^$$' -benchtime 1x -timeout 15m \
		-bench 'Benchmark(PushToRunning|IdleFootprint|DeployOverhead|CollectorRun|DeployWithDeadChannel|AckLatencyDuringDeploy)$$' ./e2e | tee -a bench-smoke.out
	$(GO) run ./scripts/benchtable bench-smoke.out

load: services ## the full load test: 1000 signed webhooks/s for 30 s against a real daemon (CI runs 200/s for 5 s)
	FORGE_E2E=1 FORGE_LOAD_RATE=$${FORGE_LOAD_RATE:-1000} FORGE_LOAD_SECONDS=$${FORGE_LOAD_SECONDS:-30} \
		$(GO) test -count=1 -run TestWebhookLoad -v -timeout 15m ./e2e

crash: services ## the crash test: SIGKILL the daemon at random points, FORGE_CRASH_ROUNDS (default 20) rounds
	FORGE_E2E=1 $(GO) test -count=1 -run TestCrashRecovery -v -timeout 15m ./e2e

lint: ## gofmt, go vet, and the import-direction rules
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -run TestImportDirections .

FUZZTIME ?= 20s
fuzz: ## a short fuzzing pass over every network parser and the signature check
	for f in $$($(GO) test -list 'Fuzz.*' ./webhook | grep ^Fuzz); do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./webhook || exit 1; done

vendor-web: ## refresh the dashboard's vendored uPlot from the npm registry (needs npm; the build never does)
	./scripts/vendor-uplot.sh

clean:
	rm -rf bin
