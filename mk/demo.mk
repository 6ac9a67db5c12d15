# make demo: a simulated dialing campaign against the service `make run`
# serves (start that first, in another terminal). cmd/dialsim creates an
# outdial of DEMO_TARGETS fictional +1555 numbers (CSV import) with every
# retry delay DEMO_RETRY_DELAY seconds, claims them over the HTTP API with
# 4 dialers, sends each call's outcome (and 10% of them twice) to the
# outcome queue, shows live progress, and ends with a summary checked
# against the outdial's counts: the target fails unless they agree.
#
# By default (DEMO_REASONS) the outdial also has the calling window
# 08:00-21:00 in a whole-hour zone where it is open now (-window-tz auto, so
# the demo runs at any hour), 10% of the targets get a zone where it is
# closed (they wait: reason outside_calling_window), 10 numbers go on the
# suppression list before the import (which rejects them) and 5 after it
# (claims fail those targets: reason suppressed). The summary shows how
# many targets wait for each reason; the numbers are taken off the list at
# the end. DEMO_REASONS= runs the plain campaign.
#
#   make demo                                   200 targets, ends in well under a minute
#   make demo DEMO_TARGETS=1000 DEMO_ARGS='-dialers 8 -p-answered 0.3'
#   make demo DEMO_REASONS=                     no window, no suppressions
#   make demo DEMO_REASONS= DEMO_ARGS='-window 08:00-21:00 -window-tz America/New_York -closed-share 0.1 -suppress 10 -suppress-late 5'
#                                               a window of your own (it must be open now in its zone)
#
# DEMO_ARGS are more cmd/dialsim flags (go run ./cmd/dialsim -h lists them;
# given after DEMO_REASONS, they override its flags). The token is minted
# with $OUTDIAL_TOKEN_SECRET (or the development secret `make run` uses),
# unless $TOKEN is set.

DEMO_TARGETS     ?= 200
DEMO_RETRY_DELAY ?= 2
DEMO_TIMEOUT     ?= 5m
DEMO_REASONS     ?= -window 08:00-21:00 -window-tz auto -closed-share 0.1 -suppress 10 -suppress-late 5
DEMO_ARGS        ?=

.PHONY: demo

demo:
	go run ./cmd/dialsim -create $(DEMO_TARGETS) -retry-delay $(DEMO_RETRY_DELAY) -timeout $(DEMO_TIMEOUT) $(DEMO_REASONS) $(DEMO_ARGS)
