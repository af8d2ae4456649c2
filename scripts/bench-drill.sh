#!/usr/bin/env bash
# Restore drills on the dev stack (scripts/stack.sh up): drills per hour for
# the 3 demo projects, and a drill's overhead over a plain `worker apply` of
# the same snapshot (goal: at most 1.2x).
#   1. seeds the demo projects into a portal database of its own (bench_drill),
#      bucket bench-drill, prefix benchdrill; syncs and verifies the newest
#      snapshot of each (scripts/benchdrill setup);
#   2. baseline: `worker apply --dump s3://... --database-url` of each newest
#      snapshot into a fresh empty database, BENCH_ROUNDS times (default 3);
#   3. drills: the real drill worker (restore as the owner role, row counts,
#      amcheck on every B-tree index, foreign keys, drop) of each project,
#      BENCH_ROUNDS times, one at a time (PORTAL_DRILL_CONCURRENCY 1);
#   4. prints drills per hour and, per project, the mean drill time over the
#      mean apply time (and over CREATE DATABASE plus apply, which a drill
#      does too). On the small demo projects a drill's fixed costs (creating
#      and dropping the database, the owner role's login session, installing
#      amcheck) dominate; the ratio falls towards the cost of the checks'
#      scans on large ones.
# Wall-clock figures: run it on a quiet machine. BENCH_KEEP=1 keeps bench_drill.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
rounds=${BENCH_ROUNDS:-3}
work=$(mktemp -d /tmp/portal-bench-drill.XXXXXX)
cleanup() {
	drop_like 'bench_apply_%'
	if [[ ${BENCH_KEEP:-0} != 1 ]]; then
		psql -qX "$pbase/postgres?sslmode=disable" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_drill WITH (FORCE)" >/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

portal_db bench_drill
export PORTAL_S3_BUCKET=bench-drill PORTAL_S3_PREFIX=benchdrill PORTAL_METRICS_ADDR=127.0.0.1:0 PORTAL_SMTP_ADDR= PORTAL_CAPTURE_SCHEDULE=
export PORTAL_DRILL_CONCURRENCY=1 PORTAL_LOG_LEVEL=warn
go build -o "$work/benchdrill" ./scripts/benchdrill
go build -o "$work/worker" ./cmd/worker

echo "== demo projects, newest verified snapshots"
"$work/benchdrill" setup >"$work/snaps"
cat "$work/snaps" | sed 's/^/   /'

echo "== baseline: worker apply, $rounds round(s)"
declare -A apply_sum create_sum
while read -r ref key; do apply_sum[$ref]=0; create_sum[$ref]=0; done <"$work/snaps"
for ((r = 0; r < rounds; r++)); do
	while read -r ref key; do
		db="bench_apply_${ref//-/_}"
		psql -qX "$admin" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		c0=$(now)
		psql -qX "$admin" -c "CREATE DATABASE $db" >/dev/null
		c1=$(now)
		create_sum[$ref]=$(echo "${create_sum[$ref]} + $c1 - $c0" | bc -l)
		url="${admin%%\?*}"; url="${url%/*}/$db?sslmode=disable"
		t0=$(now)
		"$work/worker" apply --dump "s3://$PORTAL_S3_BUCKET/$key" --database-url "$url" 2>"$work/apply.log" || { cat "$work/apply.log" >&2; exit 1; }
		t1=$(now)
		psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		s=$(echo "$t1 - $t0" | bc -l)
		apply_sum[$ref]=$(echo "${apply_sum[$ref]} + $s" | bc -l)
		printf '   apply %-14s %6.2fs (CREATE DATABASE before it %.2fs)\n' "$ref" "$s" "$(echo "$c1 - $c0" | bc -l)"
	done <"$work/snaps"
done

echo "== drills, $rounds round(s), one at a time"
"$work/benchdrill" drill "$rounds" >"$work/drills"
declare -A drill_sum rec_sum
while read -r kind ref ms rec; do
	[[ $kind == drill ]] || continue
	drill_sum[$ref]=$(echo "${drill_sum[$ref]:-0} + $ms / 1000" | bc -l)
	rec_sum[$ref]=$(echo "${rec_sum[$ref]:-0} + $rec / 1000" | bc -l)
	printf '   drill %-14s %6.2fs (recovery %.2fs)\n' "$ref" "$(echo "$ms / 1000" | bc -l)" "$(echo "$rec / 1000" | bc -l)"
done <"$work/drills"
read -r _ n secs < <(grep '^total' "$work/drills")

echo "== results (rough on a busy machine)"
printf '   drills per hour (3 demo projects, concurrency 1): %.0f  (%d drills in %.1fs)\n' "$(echo "$n * 3600 / $secs" | bc -l)" "$n" "$secs"
worst=0
while read -r ref key; do
	ratio=$(echo "${drill_sum[$ref]} / ${apply_sum[$ref]}" | bc -l)
	printf '   %-14s drill %.2fs / worker apply %.2fs = %.2fx (goal <= 1.2x); recovery alone %.2fx\n' "$ref" \
		"$(echo "${drill_sum[$ref]} / $rounds" | bc -l)" "$(echo "${apply_sum[$ref]} / $rounds" | bc -l)" "$ratio" \
		"$(echo "${rec_sum[$ref]} / ${apply_sum[$ref]}" | bc -l)"
	printf '   %-14s drill over CREATE DATABASE + worker apply (%.2fs): %.2fx\n' "$ref" \
		"$(echo "(${apply_sum[$ref]} + ${create_sum[$ref]}) / $rounds" | bc -l)" "$(echo "${drill_sum[$ref]} / (${apply_sum[$ref]} + ${create_sum[$ref]})" | bc -l)"
	if (( $(echo "$ratio > $worst" | bc -l) )); then worst=$ratio; fi
done <"$work/snaps"
printf '   worst overhead %.2fx\n' "$worst"
