# make events: webhook events of a demo campaign, as they arrive (issue
# 15), against the service `make run` serves (start that first, in another
# terminal). cmd/webhookrecv listens on 127.0.0.1:EVENTS_PORT and
# registers itself as the webhook of make run's demo customer
# (PUT /v1.0/webhook through EVENTS_API, with a token minted like
# cmd/dialsim's: $OUTDIAL_TOKEN_SECRET or the development secret, unless
# $TOKEN is set; make run allows http://127.0.0.1:<port> webhooks),
# verifies every delivery with the secret the PUT answered
# (X-Outdial-Signature: HMAC-SHA-256 of "<timestamp>.<body>"), asks for a
# ping, then runs the demo campaign (cmd/dialsim, as make demo does, with
# EVENTS_TARGETS targets) and prints one line per event, its lag after the
# change and a summary of its data; dialsim's own lines are prefixed "| ".
# When the campaign ends and no delivery has come for 5 s, it prints a
# summary (deliveries, events by type, duplicates skipped), removes the
# webhook and stops; the exit status is dialsim's (1 if a delivery failed
# verification).
#
# The campaign is the plain one by default (EVENTS_REASONS empty), so the
# outdial runs out of work and outdial_completed arrives last; with make
# demo's calling window and suppressions, targets left waiting for the
# window keep the outdial from completing.
#
#   make events                                 50 targets: created, dialing, finished/failed, completed
#   make events EVENTS_ARGS='-fail-first 2 -drain 30s'
#                                               the first two deliveries answered 500: retried after
#                                               WebhookBackoffSeconds (10 s), in order
#   make events EVENTS_ARGS='-event-types outdial_completed,outdial_updated'
#   make events EVENTS_TARGETS=200 EVENTS_REASONS='$(DEMO_REASONS)'
#
# EVENTS_ARGS are more cmd/webhookrecv flags (go run ./cmd/webhookrecv -h);
# EVENTS_DEMO_ARGS more cmd/dialsim flags. DEMO_RETRY_DELAY and
# DEMO_TIMEOUT are make demo's (mk/demo.mk).

EVENTS_PORT      ?= 8765
EVENTS_API       ?= http://127.0.0.1:3000
EVENTS_TARGETS   ?= 50
EVENTS_REASONS   ?=
EVENTS_ARGS      ?=
EVENTS_DEMO_ARGS ?=

.PHONY: events

# dialsim is built first and run as a binary, so that an interrupt
# reaches it directly (the receiver forwards one too) and it prints its
# summary.
events:
	@mkdir -p .local/bin
	go build -o .local/bin/dialsim ./cmd/dialsim
	go run ./cmd/webhookrecv -register -api $(EVENTS_API) -port $(EVENTS_PORT) $(EVENTS_ARGS) -- \
		.local/bin/dialsim -api $(EVENTS_API) -create $(EVENTS_TARGETS) -retry-delay $(DEMO_RETRY_DELAY) -timeout $(DEMO_TIMEOUT) $(EVENTS_REASONS) $(EVENTS_DEMO_ARGS)
