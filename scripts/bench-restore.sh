#!/usr/bin/env bash
# Time of each step of a full destructive restore of a ~1 GB database, through
# the real worker binary, on the dev stack (scripts/stack.sh up):
#   1. builds the project database on the project cluster: pgbench -i -s $BENCH_SCALE
#      (default 60: ~900 MB with indexes) plus a wide table of $BENCH_WIDE_ROWS rows
#      (default 400000: ~300 MB), owned by an unprivileged owner role;
#   2. registers it in a portal database of its own (bench_restore, migrated), captures
#      a verified snapshot (pg_dump | gzip into S3 under prefix "bench"), and queues an
#      approved full destructive restore of it (scripts/benchrestore);
#   3. starts `worker run` and prints each step's duration from the ticket's result
#      (precheck, safety snapshot, prepare, apply, verify, cut-over, follow-ups).
# BENCH_KEEP=1 keeps the databases afterwards. Run it on a quiet machine: the figures
# are wall-clock times.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
scale=${BENCH_SCALE:-60}
wide=${BENCH_WIDE_ROWS:-400000}
ref=bench-1g
db=bench_1g
owner=bench_1g_owner
work=$(mktemp -d /tmp/portal-bench-restore.XXXXXX)
worker_pid=
cleanup() {
	[[ -n $worker_pid ]] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
	if [[ ${BENCH_KEEP:-0} != 1 ]]; then
		drop_like "${db}%"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building $db on the project cluster (pgbench -s $scale, wide table $wide rows)"
psql -qX "$admin" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $db WITH (FORCE);
DO \$\$ BEGIN CREATE ROLE $owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
CREATE DATABASE $db OWNER $owner;
SQL
ourl="${admin%%\?*}"; ourl="${ourl%/*}/$db?sslmode=disable"; ourl="${ourl/postgres@/$owner@}"
t0=$(date +%s)
"$bin/pgbench" -i -q -s "$scale" "$ourl" >/dev/null 2>&1
psql -qX "$ourl" -v ON_ERROR_STOP=1 -c "CREATE TABLE wide AS SELECT g AS id, md5(g::text) || md5((g*3)::text) || md5((g*7)::text) AS a,
	md5((g*11)::text) || md5((g*13)::text) || md5((g*17)::text) AS b, now() - g * interval '1 second' AS at, g % 1000 AS bucket
	FROM generate_series(1, $wide) g" -c "ALTER TABLE wide ADD PRIMARY KEY (id)" -c "CREATE INDEX ON wide (bucket, at)" -c "SET client_min_messages = error" -c "VACUUM ANALYZE" >/dev/null
echo "   built in $(( $(date +%s) - t0 ))s: $(psql -qAtX "$admin" -c "SELECT pg_size_pretty(pg_database_size('$db'))")"

echo "== portal database bench_restore, snapshot, approved ticket"
portal_db bench_restore
export PORTAL_S3_BUCKET=bench-restore PORTAL_S3_PREFIX=bench PORTAL_METRICS_ADDR=127.0.0.1:0 PORTAL_SMTP_ADDR= PORTAL_CAPTURE_SCHEDULE=
go build -o "$work/benchrestore" ./scripts/benchrestore
go build -o "$work/worker" ./cmd/worker
ticket=$("$work/benchrestore" setup "$ref" "$db")

echo "== restore (ticket $ticket) through worker run"
t0=$(date +%s)
"$work/worker" run >"$work/worker.log" 2>&1 &
worker_pid=$!
if ! "$work/benchrestore" wait "$ticket" 60m; then
	grep -E 'level=(ERROR|WARN)' "$work/worker.log" | tail -20 >&2
	exit 1
fi
echo "   wall clock $(( $(date +%s) - t0 ))s (worker start included)"
grep 'msg="restore step"' "$work/worker.log" | sed 's/.*step=/   log: step=/' || true
