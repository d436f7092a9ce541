# ReliAPI — the two commands a new machine needs are `make run` and `make test`.

GO       ?= go
BIN      ?= bin/reliapi
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
CONFIG   ?= config.example.yaml

.PHONY: run build test test-cluster test-deps test-browser browser-deps vet bench chaos fuzz fmt clean

## run: start api + worker + demo upstream on an embedded Redis (REDIS_URL unset) on :8000
run:
	$(GO) run ./cmd/reliapi dev --config $(CONFIG)

## build: static binary in bin/reliapi
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/reliapi

## test: install what is missing (redis-server), then vet and run every test with the race
## detector, then the api's integration suite again on a Redis Cluster (as test-cluster)
test: test-deps vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(CLUSTER_SUITE)

# The api's integration suite with every stack on a 3-master Redis Cluster the harness starts.
CLUSTER_SUITE = RELIAPI_TEST_REDIS=cluster $(GO) test -race -count=1 -timeout 10m ./api

## test-cluster: the api's integration suite on a Redis Cluster, and the multi-process tests on a
## cluster and behind a Sentinel
test-cluster: test-deps
	$(CLUSTER_SUITE)
	$(GO) test -race -count=1 -run 'Cluster|Sentinel' ./cmd/reliapi ./internal/testenv

## test-deps: tests start their own redis-server (and redis-cli joins clusters); install when absent
test-deps:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
		echo "redis-server or redis-cli not found: installing them with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; \
	}
	@redis-server --version

## test-browser: load /docs, /redoc and /admin/queues/ in headless Chromium (installs Debian's
## chromium with apt-get when /usr/bin/chromium is missing); fails on console errors. Not part of
## make test, which needs no browser.
test-browser: test-deps browser-deps
	RELIAPI_CHROMIUM=$(CHROMIUM) $(GO) test -tags browser -count=1 -timeout 5m -run '^TestBrowser' -v ./api

CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@test -x $(CHROMIUM) || { \
		echo "$(CHROMIUM) not found: installing Debian's chromium with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	}
	@$(CHROMIUM) --version

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

## bench: micro-benchmarks, then the side-by-side report (about 10 minutes; BENCHFLAGS="-soak 1m"
## shortens it, `go run ./internal/bench -h` lists the flags); writes bench/results.json and
## bench/latency.png
BENCHFLAGS ?=
bench: test-deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./internal/bench $(BENCHFLAGS)

## chaos: the fault scenarios at full length (faults of 10 s, a worker cut off for 30 s), printing their table;
## make test runs them short
chaos: test-deps
	$(GO) test -count=1 -v -timeout 20m -run . ./internal/chaos -args -full

## fuzz: run every fuzz target for FUZZTIME (60s) each, then add what it found to the committed corpus
FUZZTIME ?= 60s
FUZZ_TARGETS := ./api:FuzzRequestDecoding ./api:FuzzPrefer ./api:FuzzJSONDepth .:FuzzUpstreamURL \
	./providers/httpx:FuzzParseRetryAfter ./config:FuzzParse ./tasks:FuzzDecode ./jobs:FuzzListCursor ./jobs:FuzzUnpackStrings
fuzz: test-deps
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
		mkdir -p $$pkg/testdata/fuzz/$$name; \
		found=$$cache/$$($(GO) list $$pkg)/$$name; \
		if [ -d $$found ]; then cp -n $$found/* $$pkg/testdata/fuzz/$$name/ 2>/dev/null || true; fi; \
	done; \
	echo "corpus: $$(find . -path '*/testdata/fuzz/*' -type f | wc -l) files under */testdata/fuzz (commit them)"

fmt:
	gofmt -w .

clean:
	rm -rf bin
