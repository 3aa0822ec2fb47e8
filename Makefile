# FD2 — common tasks. `make test` is the whole suite and what CI runs (.ci/run).
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: build run test lint fuzz bench xcaddy fmt
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 15s

build: ## build ./fd2 (Caddy + standard modules + every FD2 module)
	$(GO) build -o fd2 ./cmd/fd2

run: ## run FD2 on Caddyfile.example (file manifests, in-memory cache, bundled demo + fake provider)
	$(GO) run ./cmd/fd2 run --config Caddyfile.example

test: ## the whole suite: vet, staticcheck, every test with the race detector (integration tests need redis-server), fuzz briefly, then the xcaddy build check
	$(GO) vet ./...
	$(MAKE) lint
	$(GO) test -race -count=1 -timeout 30m ./...
	cd tests/observability && $(GO) test -count=1 ./...
	cd tests/vault && $(GO) test -count=1 ./...
	$(MAKE) fuzz
	./xcaddy.sh

fuzz: ## the JWS and JWE parsers' fuzz targets, briefly
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./dsp/auth/
	$(GO) test -run '^$$' -fuzz '^FuzzDecryptDir$$' -fuzztime $(FUZZTIME) ./dsp/auth/

lint: ## staticcheck, installed from the Go module proxy
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$$($(GO) env GOPATH)/bin/staticcheck" ./...

bench: ## micro-benchmarks (resolve+match) and the load benchmark (plain reverse_proxy vs FD2)
	$(GO) test -run '^$$' -bench . -benchmem ./dsp/... ./inference/... ./caddymodules/gateway/
	$(GO) test -run '^$$' -bench 'LoadRatio|InferenceOverhead|InstrumentationCost' -benchtime 1x -v -timeout 10m ./caddymodules/integration/

xcaddy: ## build with xcaddy and check the modules, adapt and validate Caddyfile.example
	./xcaddy.sh

fmt:
	gofmt -l -w .
