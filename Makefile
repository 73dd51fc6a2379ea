# Moa. `make run` and `make test` work on a fresh Debian machine with Go installed: they
# install the PostgreSQL server package (and Chromium for the tests) when it is missing.

GO        ?= go
# The Go toolchain named by go.mod's toolchain line (a patched release) is fetched through the
# module proxy: machines whose go.env says GOTOOLCHAIN=local would otherwise build with their own.
export GOTOOLCHAIN ?= auto
# Extra flags for every `go test` of `make test`, e.g. TESTFLAGS='-count=1 -v' or -run X.
# -count=1 by default: the suite talks to real servers, so a cached "ok" would prove nothing.
TESTFLAGS ?= -count=1
# How much `make test` fuzzes each fuzz target (the WebSocket frame decoder, the JSON scanner).
# Fuzz budgets are counts of executions, not durations: Go 1.26's fuzz coordinator can fail a
# duration-bounded run with a bare "context deadline exceeded" at the deadline when a worker is
# mid-exec (golang/go#75804, fixed in Go 1.27); a count has no deadline to race. About 15 s each
# on the development machine.
FUZZ_DECODE  ?= 150000x
FUZZ_MEMBERS ?= 12000x
# Packages tested with the race detector: the bus runtime, its concurrency at the core.
RACEPKGS  ?= ./bus/...
# Flags for `moa dev` under `make run`, e.g. ARGS='--http-addr 127.0.0.1:9000'.
ARGS      ?=
# `make bench`: flags for cmd/moabench, and the packages and time of the go test benchmarks.
BENCHFLAGS ?=
BENCHPKGS  ?= ./bus/... ./client/authn
BENCHTIME  ?= 2s
# `make bench`: flags for moa load (scripts/loadbench.sh runs it against a fresh moa dev).
LOADFLAGS  ?= --duration 60s

.PHONY: run test bench lint build generate deps-run deps-test

## run: install PostgreSQL if missing, then run everything in one process (moa dev)
run: deps-run build
	exec bin/moa dev $(ARGS)

## generate: the JSON Schemas and protocol table (contracts), nats.conf, init.sql, compose services and Kubernetes manifests (deploy)
generate:
	$(GO) generate ./contracts ./deploy

## test: the whole suite, with -race on $(RACEPKGS)
# Both runs always happen, so one failure does not hide the others; the status is the worst.
test: deps-test
	@status=0; \
	echo "$(GO) test $(TESTFLAGS) -race $(RACEPKGS)"; \
	$(GO) test $(TESTFLAGS) -race $(RACEPKGS) || status=1; \
	echo "$(GO) test $(TESTFLAGS) (every other package)"; \
	$(GO) test $(TESTFLAGS) $$($(GO) list ./... | grep -vxF "$$($(GO) list $(RACEPKGS))") || status=1; \
	echo "fuzzing: FuzzDecode $(FUZZ_DECODE), FuzzMembers $(FUZZ_MEMBERS) executions"; \
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_DECODE) ./edge/protocol || status=1; \
	$(GO) test -run '^$$' -fuzz '^FuzzMembers$$' -fuzztime $(FUZZ_MEMBERS) ./bus || status=1; \
	exit $$status

## bench: every benchmark, each printing its figures next to a baseline measured in the same run
# request-reply and consumer vs raw nats.go (moabench); outbox vs direct publish (bus/outbox);
# service paths (auth login, catalog list cached/uncached, chat send->recipient); saga vs a
# one-transaction monolith; the document store's SQLite and PostgreSQL backends side by side;
# the WebSocket edge under load from a separate process (edgeload); the whole system under a
# realistic mix over its WebSocket edge (moa load against a fresh moa dev, LOADFLAGS).
bench:
	$(GO) run ./cmd/moabench $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(BENCHPKGS)
	$(GO) test -run '^$$' -bench . -benchtime 3s ./services/auth ./services/catalog
	$(GO) test -run '^$$' -bench SendToRecipient -benchtime 5000x ./services/chat
	$(GO) test -run '^$$' -bench SagaVsMonolith -benchtime 400x ./internal/sagasuite
	$(GO) test -run '^$$' -bench Backends -benchtime 3000x ./internal/docstore
	$(GO) run ./edge/cmd/edgeload bench
	GO=$(GO) scripts/loadbench.sh $(LOADFLAGS)

## lint: gofmt and go vet have nothing to say, go.mod is tidy, govulncheck finds nothing reachable
lint:
	@files=$$(find . -name '*.go' -not -path './.moa/*' -not -path './.git/*' | xargs gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt -l:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	GO=$(GO) scripts/vulncheck.sh

## build: the moa binary in ./bin
build:
	$(GO) build -o bin/moa ./cmd/moa

deps-run:
	@scripts/deps.sh postgres

deps-test:
	@scripts/deps.sh postgres chromium cjkfont
