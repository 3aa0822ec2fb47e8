# FD2 — common tasks. `make test` is the whole suite and what CI runs (.ci/run).
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: build image run test lint fuzz bench xcaddy fmt
# Stamped into internal/buildinfo (`fd2 version`, /health?detailed=true); override with `make build
# VERSION=v1.2.3`. Without git (a source tarball) they fall back to "dev" / "unknown".
VERSION = $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT = $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE = $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILDINFO = github.com/dsp-ai/fd2/internal/buildinfo
LDFLAGS = -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Commit=$(COMMIT) -X $(BUILDINFO).Date=$(DATE)
IMAGE ?= fd2
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 15s
# A new input's minimisation may take the whole FUZZTIME of a large seed (a manifest of 17 KB), leaving no
# time to fuzz; minimisation matters for crashers, which are minimised in a separate run anyway.
FUZZMINIMIZETIME ?= 2s
# One target, retried once when Go's fuzz coordinator fails it on its own deadline race (see .ci/fuzz).
FUZZ = GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) ./.ci/fuzz

build: ## build ./fd2 (Caddy + standard modules + every FD2 module), stamped with its version, commit and date
	$(GO) build -ldflags '$(LDFLAGS)' -o fd2 ./cmd/fd2

image: ## build the container image $(IMAGE):$(VERSION) with the same stamp (needs Docker with BuildKit)
	docker build --build-arg VERSION='$(VERSION)' --build-arg COMMIT='$(COMMIT)' --build-arg DATE='$(DATE)' \
		-t '$(IMAGE):$(VERSION)' .

run: ## run FD2 on Caddyfile.example (file manifests, in-memory cache, bundled demo + fake provider)
	$(GO) run ./cmd/fd2 run --config Caddyfile.example

test: ## the whole suite: vet, staticcheck, every test with the race detector (integration tests need redis-server; the test modules — observability, vault, the Helm chart — and the example module type too), fuzz briefly, then the xcaddy build check (which serves the example module)
	@$(GO) run ./internal/testfixtures/interopcheck
	$(GO) vet ./...
	$(MAKE) lint
	$(GO) test -race -count=1 -timeout 30m -skip '^TestOverheadHeader$$' ./...
	@# The timing test compares microseconds of FD2 against a plain proxy: it runs on its own, on a machine
	@# the other packages' tests are not loading (in the parallel run it read ~1.5 points lower).
	$(GO) test -race -count=1 -run '^TestOverheadHeader$$' ./caddymodules/integration/
	cd tests/observability && $(GO) test -count=1 ./...
	cd tests/helm && $(GO) test -count=1 ./...
	cd tests/vault && $(GO) test -count=1 ./...
	cd examples/module && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	$(MAKE) fuzz
	./xcaddy.sh

fuzz: ## every parser of untrusted input, FUZZTIME each: JWS, JWE, the manifest pipeline, the project locator, the SSE reader, the usage sniffer, the Anthropic and Gemini stream translators and their raw JSON reader, the Messages and Responses API translators, the RAG filter composition, request rewriting and prompt augmentation (chat and Messages bodies), the model server's request rewrites and answers
	$(FUZZ) '^FuzzVerify$$' ./dsp/auth/
	$(FUZZ) '^FuzzDecryptDir$$' ./dsp/auth/
	$(FUZZ) '^FuzzManifestPipeline$$' ./dsp/manifest/
	$(FUZZ) '^FuzzLocate$$' ./dsp/route/
	$(FUZZ) '^FuzzSSEReader$$' ./inference/
	$(FUZZ) '^FuzzUsageSniffer$$' ./inference/
	$(FUZZ) '^FuzzStreamTranslator$$' ./inference/anthropic/
	$(FUZZ) '^FuzzStreamTranslator$$' ./inference/gemini/
	$(FUZZ) '^FuzzStreamTranslator$$' ./inference/messages/
	$(FUZZ) '^FuzzRequest$$' ./inference/messages/
	$(FUZZ) '^FuzzStreamTranslator$$' ./inference/responses/
	$(FUZZ) '^FuzzValid$$' ./inference/internal/rawjson/
	$(FUZZ) '^FuzzAppendString$$' ./inference/internal/rawjson/
	$(FUZZ) '^FuzzComposeFilter$$' ./rag/
	$(FUZZ) '^FuzzRewrite$$' ./rag/
	$(FUZZ) '^FuzzAugment$$' ./rag/
	$(FUZZ) '^FuzzRequest$$' ./rag/modelserver/
	$(FUZZ) '^FuzzUpstream$$' ./rag/modelserver/

lint: ## staticcheck, installed from the Go module proxy
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$$($(GO) env GOPATH)/bin/staticcheck" ./...

bench: ## micro-benchmarks, the in-process ratios, then the side-by-side load benchmark (fd2 and stock Caddy as pinned processes; the table of docs/performance.md)
	$(GO) test -run '^$$' -bench . -benchmem ./dsp/... ./inference/... ./rag/... ./caddymodules/gateway/
	$(GO) test -run '^$$' -bench 'LoadRatio|PipelineRatio|InferenceOverhead|InstrumentationCost|RAGLatency|ColdProjectLoad' -benchtime 1x -v -timeout 10m ./caddymodules/integration/
	$(GO) test -run '^$$' -bench 'SideBySide|HeldStreams' -benchtime 1x -v -timeout 30m ./tests/loadbench/

xcaddy: ## build with xcaddy (with the example module type), check the modules, adapt and validate Caddyfile.example, serve the example module
	./xcaddy.sh

fmt:
	gofmt -l -w .
