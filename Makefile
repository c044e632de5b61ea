# pagebff — see README.md. Only Go is needed; tools go to ./bin.
GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
FUZZTIME    ?= 10s
BENCHTIME   ?= 2s
BENCHCOUNT  ?= 1

.PHONY: all build demo test bench gobench lint fuzz clean

all: lint test build

## build: the pagebff binary, bin/bff
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bff ./cmd/bff

## demo: pagebff on 127.0.0.1:8080 with built-in fake User, Catalog and
## Activity services. It builds and then runs the binary (not `go run`, which
## exits 1 after Ctrl-C whatever the program did, so make reported an error);
## exec hands the shell's place to bff, which exits 0 on Ctrl-C.
demo:
	@CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bff ./cmd/bff
	@exec $(BIN)/bff --demo

## test: vet, then every test with the race detector
test: redis-server
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## deploy-check: the Kubernetes manifests, built with kustomize and decoded
## strictly into the Kubernetes API's types, offline (a module of its own,
## deploy/, so none of it reaches the binary)
.PHONY: deploy-check
deploy-check:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

## redis-server, haproxy: the real components tests start (Debian packages
## of the same names), installed when missing and running as root; otherwise
## the tests that need one skip, naming the package (and fail under CI=true)
.PHONY: redis-server haproxy chromium
need = @command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y $(1) >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y $(1) >/dev/null 2>&1; } || \
	      echo "$(1) could not be installed: the tests that need it will skip (apt-get install $(1))"; \
	  else echo "$(1) not installed: the tests that need it will skip (apt-get install $(1))"; fi; }
redis-server:
	$(call need,redis-server)
haproxy:
	$(call need,haproxy)
chromium:
	$(call need,chromium)

## browser: the live dashboard in headless Chromium against the real binary
## (dashboardtest, build tag browser); writes docs/dashboard.png
.PHONY: browser
browser: chromium
	$(GO) test -tags browser -count=1 -v -timeout 3m ./dashboardtest/

## bench: page cost and allocations (BENCHCOUNT=10 for benchstat), the
## in-process tail-latency comparison, hedging off vs on (TAILPAGES pages at
## 250/s each), then the load benchmarks of the real binary (chaos.mk)
TAILPAGES ?= 3000
bench: gobench loadbench

gobench:
	$(GO) test -run '^$$' -bench '^BenchmarkPage' -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...
	$(GO) test -run '^$$' -bench '^BenchmarkTailLatency$$' -benchtime $(TAILPAGES)x ./internal/app

## lint: gofmt, go vet, staticcheck
lint: $(STATICCHECK)
	@out="$$(gofmt -l cmd internal chaos bench dashboardtest)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags 'chaos fleet' ./chaos
	$(GO) vet -tags browser ./dashboardtest
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags 'chaos fleet' ./chaos
	$(STATICCHECK) -tags browser ./dashboardtest

## fuzz: each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidUserID$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzValidRequestID$$' -fuzztime $(FUZZTIME) ./internal/observability
	$(GO) test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./internal/page
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./internal/downstream
	$(GO) test -run '^$$' -fuzz '^FuzzBearerToken$$' -fuzztime $(FUZZTIME) ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzReadResponse$$' -fuzztime $(FUZZTIME) ./internal/downstream/h1

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf $(BIN)

# Chaos and load tooling lives in its own file.
-include chaos.mk
