# mk/load.mk: the load test at full size (internal/loadtest, TestLoad).
#
#   make load                                   100 000 targets, 16 claimers
#   make load LOAD_TARGETS=10000 LOAD_CLAIMERS=4   smaller
#
# Against the local stack (DynamoDB Local behind the DynamoDB double, which
# adds DynamoDB's latency, transaction conflicts and per-partition budgets;
# the SQS stand-in; the HTTP API emulation): imports LOAD_TARGETS targets into one outdial in requests of
# 10 000, dials them with LOAD_CLAIMERS concurrent claimers (claims of 25,
# 300 s leases) that report each call's outcome on the outcome queue and 10%
# of them twice, until nothing is idle or dialing; then checks every target
# against the test's model. It prints progress every 10 s and ends with one
# line, also kept in .local/load.txt:
#
#   LOAD targets=... import=...s (... targets/s) campaign=...s outcomes=... duplicates=... outcomes/s=... discrepancies=0 double: cancelled_pct=...
#
# `make test` runs the same test at a reduced size (1 000 targets, 16
# claimers). Locally, throughput is bounded by the one SQS poller feeding
# process-outcomes (batches of 25, 1 s window) and by DynamoDB Local (one
# lock per table) on 2 cores: see the README's Figures for the last full
# run; -load.deadline bounds the campaign (default 3 min + 25 ms per
# target), and an unsettled run is still checked item by item.
# LOAD_ARGS are more flags (-load.seed, -load.limit, -load.lease,
# -load.duplicates, -load.inflight, -load.deadline, -load.double=false for
# DynamoDB Local alone; go doc has none, see
# internal/loadtest/load_test.go).

LOAD_TARGETS  ?= 100000
LOAD_CLAIMERS ?= 16
LOAD_TIMEOUT  ?= 90m
LOAD_ARGS     ?=

.PHONY: load

load: deps
	@mkdir -p .local
	status=0
	go test ./internal/loadtest -run '^TestLoad$$' -count=1 -timeout $(LOAD_TIMEOUT) -v \
		-args -load.targets=$(LOAD_TARGETS) -load.claimers=$(LOAD_CLAIMERS) $(LOAD_ARGS) | tee .local/load.out || status=$$?
	if grep '^LOAD ' .local/load.out > .local/load.txt; then echo; cat .local/load.txt; fi
	exit $$status
