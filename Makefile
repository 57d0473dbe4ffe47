# The license authority's tasks. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin:$(CURDIR)/.dev/bin
export GOFLAGS ?= -buildvcs=false

# Pinned tools, built from the Go module proxy into .dev/bin.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
NATS_SERVER_VERSION        := v2.15.2
TOOLS := $(CURDIR)/.dev/bin

MODULES := proto pkg services/registry services/tokens services/signer services/sync services/gateway services/console cmd/licensectl tests deploy/docker/healthcheck deploy/operator
GO_PACKAGES := $(addsuffix /...,$(addprefix ./,$(MODULES)))

# Postgres for tests and dev: DATABASE_URL when it answers, else a private
# cluster under .dev/postgres (installed from Debian's packages if needed).
ENSURE_DB   = $$(scripts/ensure-postgres.sh | sed -n 's/^DATABASE_URL=//p')
ENSURE_NATS = $$(scripts/ensure-nats.sh | sed -n 's/^NATS_URL=//p')

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

.PHONY: dev
dev: ## Start Postgres and NATS when missing, then all six services; prints the URLs and keys
	@db="$(ENSURE_DB)"; nats="$(ENSURE_NATS)"; \
	  DATABASE_URL="$$db" NATS_URL="$$nats" go run ./tests/cmd/dev

.PHONY: test
test: ## Unit, integration and end-to-end tests on real Postgres and NATS
	@db="$(ENSURE_DB)"; export DATABASE_URL="$$db"; \
	  echo "testing against $${db%%\?*}"; \
	  go test -count=1 -timeout 12m $(GO_PACKAGES)
	@$(MAKE) check-modules

.PHONY: check-modules
check-modules: ## Build every module on its own (GOWORK=off), as a consumer of it would
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build -o /dev/null ./... ) || { echo "module $$m does not build on its own"; exit 1; }; done
	@echo "every module builds with GOWORK=off"

.PHONY: bench
bench: ## Benchmarks of the whole system, each figure beside a baseline from the same run
	@db="$(ENSURE_DB)"; $(MAKE) $(TOOLS)/nats-server; \
	  DATABASE_URL="$$db" NATS_SERVER_BIN="$(TOOLS)/nats-server" go run ./tests/cmd/bench $(BENCH_FLAGS)

.PHONY: soak
soak: ## Mixed traffic for SOAK_DURATION (default 3m), failing on memory or goroutine growth per service
	@db="$(ENSURE_DB)"; export DATABASE_URL="$$db"; \
	  cd tests && SOAK_DURATION="$${SOAK_DURATION:-3m}" go test -count=1 -timeout 60m -run '^TestSoak$$' -v ./e2e | grep -v '^\s*{"time"'

.PHONY: chaos
chaos: ## The fault tests (NATS outage mid-burst, redelivery, SIGKILL mid-issuance, Postgres restart) on their own
	@db="$(ENSURE_DB)"; export DATABASE_URL="$$db"; \
	  cd tests && go test -count=1 -timeout 30m -run '^(TestNATSOutage|TestSignerKilled|TestPostgresRestart)' -v ./e2e | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+_test.go)'

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s); make test replays the corpora
	@db="$(ENSURE_DB)"; DATABASE_URL="$$db" scripts/fuzz.sh

.PHONY: build
build: ## Build the services and licensectl into bin/
	@go build -o bin/ ./cmd/licensectl $(foreach s,registry tokens signer sync gateway console,./services/$(s)/cmd/$(s))

.PHONY: lint
lint: $(TOOLS)/buf ## buf lint, gofmt and go vet over every module
	@cd proto && $(TOOLS)/buf lint
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }
	@go vet $(GO_PACKAGES)

.PHONY: breaking
breaking: $(TOOLS)/buf ## buf breaking-change check against main
	@cd proto && $(TOOLS)/buf breaking --against '../.git#branch=main,subdir=proto'

.PHONY: generate
generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## Regenerate Go code from proto/
	@cd proto && rm -rf gen && PATH="$(TOOLS):$$PATH" $(TOOLS)/buf generate

.PHONY: check-generate
check-generate: generate ## Fail when the committed generated code differs from proto/
	@git diff --exit-code -- proto/gen || { echo "generated code is stale: run make generate"; exit 1; }

.PHONY: stop
stop: ## Stop the private Postgres and NATS that make dev/test started (never others)
	@scripts/stop-nats.sh; scripts/stop-postgres.sh

$(TOOLS)/buf:
	@GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	@GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	@GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/nats-server:
	@GOBIN=$(TOOLS) go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
