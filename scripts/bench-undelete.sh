#!/usr/bin/env bash
# Undelete against a tables-destructive restore of the same table, through the
# real workers, on the dev stack (scripts/stack.sh up): public.items of
# $BENCH_ROWS rows (default 200000) is captured, $BENCH_MISSING of its rows
# (default 100000) are deleted live, and the same snapshot is then (1) undeleted
# into it and (2), with the rows deleted again, restored destructively
# (scripts/benchundelete). Prints each run's steps as the worker timed them and
# the ratio undelete / destructive; the goal is at most 1.0x. Uses a portal
# database (bench_undelete) and a bucket (bench-undelete) of its own; the
# project database bench_undel* is dropped afterwards unless BENCH_KEEP=1.
# Wall-clock figures: run it on a quiet machine.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
work=$(mktemp -d /tmp/portal-bench-undelete.XXXXXX)
drop_project() {
	drop_like 'bench\_undel%'
	psql -qX "$admin" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS bench_undel_owner" >/dev/null 2>&1 || true
}
cleanup() {
	[[ ${BENCH_KEEP:-0} == 1 ]] || drop_project
	rm -rf "$work"
}
trap cleanup EXIT
drop_project
portal_db bench_undelete
export PORTAL_S3_BUCKET=bench-undelete PORTAL_S3_PREFIX=bench PORTAL_METRICS_ADDR=127.0.0.1:0 PORTAL_SMTP_ADDR= PORTAL_CAPTURE_SCHEDULE=
go build -o "$work/benchundelete" ./scripts/benchundelete
"$work/benchundelete"
