# Chaos suite and load benchmarks: pagebff as a real process in front of
# real fake services (cmd/fakesvc), with Toxiproxy in between for the chaos
# suite. Included by the Makefile; see docs/chaos.md and docs/bench.md.
TOXIPROXY_VERSION := v2.12.0
TOXIPROXY         := $(BIN)/toxiproxy-server-$(TOXIPROXY_VERSION)
FAKESVC           := $(BIN)/fakesvc
NAIVE             := $(BIN)/naive-bff
PLAIN             := $(BIN)/plain-bff
LOADBENCH         := $(BIN)/loadbench
CHAOS_TIMEOUT     ?= 6m
CHAOS_FLAGS       ?=
LOADBENCH_FLAGS   ?=

.PHONY: chaos chaos-bins loadbench fleet

## chaos-bins: pagebff and fakesvc, built into bin/
chaos-bins:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bff ./cmd/bff
	CGO_ENABLED=0 $(GO) build -trimpath -o $(FAKESVC) ./cmd/fakesvc

## Toxiproxy's server, pinned, from the Go module proxy
$(TOXIPROXY):
	GOBIN=$(BIN) $(GO) install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)
	mv $(BIN)/server $@

## chaos: the chaos suite (about 2.5 minutes): faults under load, every promise
## checked; then the Redis drill (a real redis-server behind Toxiproxy)
chaos: chaos-bins $(TOXIPROXY) redis-server
	$(GO) test -tags chaos -count=1 -v -timeout $(CHAOS_TIMEOUT) -run '^TestChaos(Redis|Retries)?$$' ./chaos \
		-args -bff $(BIN)/bff -fakesvc $(FAKESVC) -toxiproxy $(TOXIPROXY) $(CHAOS_FLAGS)

## loadbench: load benchmarks (about 4 minutes): pagebff, the plain concurrent
## BFF (bench/plain) and the naive one (bench/naive) side by side at fixed rates; prints a table, writes
## docs/bench.png and the results section of docs/bench.md
loadbench: chaos-bins
	CGO_ENABLED=0 $(GO) build -trimpath -o $(NAIVE) ./bench/naive
	CGO_ENABLED=0 $(GO) build -trimpath -o $(PLAIN) ./bench/plain
	$(GO) build -o $(LOADBENCH) ./bench
	$(LOADBENCH) -bff $(BIN)/bff -plain $(PLAIN) -naive $(NAIVE) -fakesvc $(FAKESVC) -png docs/bench.png -doc docs/bench.md $(LOADBENCH_FLAGS)

## fleet: the fleet drill (about 40 seconds): three pagebff behind HAProxy
## sharing a redis-server, under open-loop load, through a rolling restart,
## an instance killed, an outage a cold instance rides out from Redis, Redis
## killed, and a config rollout
FLEET_FLAGS ?=
fleet: chaos-bins redis-server haproxy
	$(GO) test -tags 'chaos fleet' -count=1 -v -timeout 4m -run '^TestFleet$$' ./chaos \
		-args -bff $(BIN)/bff -fakesvc $(FAKESVC) $(FLEET_FLAGS)
