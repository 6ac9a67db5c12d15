# mk/invoke.mk: `sam local invoke` without Docker (cmd/invoke).
#
#   make invoke FN=<LogicalId> [EVENT=events/<file>.json]
#
# builds the function's bootstrap for this machine (CGO_ENABLED=0, -tags
# lambda.norpc) and runs it under the AWS Lambda Runtime Interface
# Emulator on 127.0.0.1, with the environment template.yaml gives the
# function, pointed at `make run`'s DynamoDB Local (127.0.0.1:8000) and SQS
# stand-in (127.0.0.1:9324) when they are up, else at stand-ins started for
# this invoke. The event defaults to events/<function>.json; its
# "Bearer <token>" gets a freshly minted token. The function's response goes
# to standard output; its logs and the cold-start figures to standard error.
#
#   make rie     only install the emulator (a tool pinned in go.mod) into .local/bin

FN    ?=
EVENT ?=

.PHONY: invoke rie

invoke: deps
	@if [[ -z "$(FN)" ]]; then
		echo "usage: make invoke FN=<LogicalId> [EVENT=events/<file>.json], e.g. make invoke FN=CreateOutdialFunction EVENT=events/create-outdial.json" >&2
		exit 2
	fi
	go run ./cmd/invoke -fn '$(FN)' $(if $(EVENT),-event '$(EVENT)')

rie:
	@go run ./cmd/invoke -install-rie
