# make demo: a simulated dialing campaign against the service `make run`
# serves (start that first, in another terminal). cmd/dialsim creates an
# outdial of DEMO_TARGETS fictional +1555 numbers (CSV import) with every
# retry delay DEMO_RETRY_DELAY seconds, claims them over the HTTP API with
# 4 dialers, sends each call's outcome (and 10% of them twice) to the
# outcome queue, shows live progress, and ends with a summary checked
# against the outdial's counts: the target fails unless they agree.
#
#   make demo                                   200 targets, ends in well under a minute
#   make demo DEMO_TARGETS=1000 DEMO_ARGS='-dialers 8 -p-answered 0.3'
#
# DEMO_ARGS are more cmd/dialsim flags (go run ./cmd/dialsim -h lists them).
# The token is minted with $OUTDIAL_TOKEN_SECRET (or the development secret
# `make run` uses), unless $TOKEN is set.

DEMO_TARGETS     ?= 200
DEMO_RETRY_DELAY ?= 2
DEMO_TIMEOUT     ?= 5m
DEMO_ARGS        ?=

.PHONY: demo

demo:
	go run ./cmd/dialsim -create $(DEMO_TARGETS) -retry-delay $(DEMO_RETRY_DELAY) -timeout $(DEMO_TIMEOUT) $(DEMO_ARGS)
