#!/usr/bin/env bash
# The staged review's row comparison (internal/compare) of a table of
# $COMPARE_BENCH_ROWS rows (default 1,000,000; one in 1,000 changed) in two
# databases on the dev stack's project cluster (scripts/stack.sh up), against
# the baseline the issue names: COPY ... TO STDOUT of the table on both sides at
# once. Prints both times and the ratio (goal: at most 1.5x). Run it on a quiet
# machine; BENCH_COUNT (default 3) is the iterations per benchmark.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
export COMPARE_BENCH_ROWS=${COMPARE_BENCH_ROWS:-1000000}
out=$(go test -count=1 -run '^$' -bench '^BenchmarkCompare$' -benchtime "${BENCH_COUNT:-3}x" ./internal/compare/)
echo "$out" | grep '^Benchmark'
ns() { echo "$out" | awk -v n="BenchmarkCompare/$1" '$1 ~ "^" n "(-[0-9]+)?$" {print $3}'; }
base=$(ns copy-both-sides)
for v in table server-hash; do
	awk -v v="$v" -v c="$(ns "$v")" -v b="$base" -v n="$COMPARE_BENCH_ROWS" 'BEGIN {
		r = c / b
		printf "rows %d: compare (%s) %.2fs, COPY both sides %.2fs, ratio %.2fx (goal <= 1.5x): %s\n", n, v, c / 1e9, b / 1e9, r, (r <= 1.5 ? "met" : "NOT met")
	}'
done
