#!/bin/sh
# Measures the dashboard and the ticket list with 10,000 tickets over real
# HTTP (the real router on a fresh portal database of the dev stack):
# prints p50 and p99 of 500 sequential requests per page, and fails when a
# p99 is over 50 ms. Needs the stack up (scripts/stack.sh).
set -eu
cd "$(dirname "$0")/.."
exec go test ./internal/web -run '^$' -bench '^BenchmarkPageLatency$' -benchtime 1x -count 1 "$@"
