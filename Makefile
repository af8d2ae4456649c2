# The restore portal. `make demo` brings everything up; `make test` runs every
# test against the same real services. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV_FILE := .stack/env
# Go may live in /usr/local/go without being on PATH for every user.
export PATH := $(PATH):/usr/local/go/bin
# The binaries and tests read the stack's settings from the environment.
LOAD_ENV := set -a; . $(ENV_FILE); set +a

.PHONY: up down status demo test vet generate build bench clean-stack

up: ## start the private Postgres and S3 server (idempotent)
	@scripts/stack.sh up

down: ## stop them (data kept in .stack)
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

build:
	@mkdir -p bin
	go build -o bin/ ./cmd/portal ./cmd/worker

generate: ## regenerate templ code
	go tool templ generate -path web/templates

demo: up build ## the whole system with demo data, in the foreground
	@scripts/demo.sh

vet:
	go vet ./...

test: ## every test, against real Postgres, S3 and Chromium
	@scripts/stack.sh up
	@scripts/stack.sh chromium
	go vet ./...
	@unformatted=$$(gofmt -l cmd internal migrations web); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	scripts/check-templ.sh
	$(LOAD_ENV); go test -race -count=1 -timeout 40m ./...

bench: up build ## performance figures against baselines (see scripts/bench.sh)
	@scripts/bench.sh

clean-stack: down
	rm -rf .stack
