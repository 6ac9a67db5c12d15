# mk/bench.mk: every performance figure of the README in one run (cmd/bench).
#
#   make bench [BENCH_ARGS="-targets 10000 -outcomes 2000 -concurrency 10"]
#
# starts its own DynamoDB Local on a free port (or uses
# OUTDIAL_DYNAMODB_ENDPOINT when set), measures import vs a plain
# BatchWriteItem loop, GET of an outdial with its counts, claims, outcomes
# through the SQS handler vs a plain UpdateItem loop, DynamoDB requests and
# write units per operation, claims with a calling window and a suppression
# list (claim-screened; -screened-only), the Lambda bootstrap sizes and the cold starts
# under the runtime emulator (median of 5), and prints one table.
# The table is also kept in .local/bench.txt. Method: docs/bench.md.
# A CPU profile of the bench process: BENCH_ARGS="-cpuprofile .local/bench.pprof".

BENCH_ARGS ?=

.PHONY: bench

bench: deps
	@mkdir -p .local
	go run ./cmd/bench $(BENCH_ARGS) | tee .local/bench.txt
