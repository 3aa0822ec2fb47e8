# FD2 — common tasks. `make test` is the whole suite and what CI runs (.ci/run).
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: build run test bench xcaddy fmt

build: ## build ./fd2 (Caddy + standard modules + every FD2 module)
	$(GO) build -o fd2 ./cmd/fd2

run: ## run FD2 on Caddyfile.example (file manifests, in-memory cache, bundled demo + fake provider)
	$(GO) run ./cmd/fd2 run --config Caddyfile.example

test: ## the whole suite: vet, then every test with the race detector (integration tests need redis-server)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

bench: ## micro-benchmarks (resolve+match) and the load benchmark (plain reverse_proxy vs FD2)
	$(GO) test -run '^$$' -bench . -benchmem ./dsp/... ./caddymodules/gateway/
	$(GO) test -run '^$$' -bench LoadRatio -benchtime 1x -v -timeout 10m ./caddymodules/integration/

xcaddy: ## build with xcaddy and check the modules, adapt and validate Caddyfile.example
	./xcaddy.sh

fmt:
	gofmt -l -w .
