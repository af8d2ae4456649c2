#!/usr/bin/env bash
# Capture of a generated database (issue 14's capture goal), on the dev stack
# (scripts/stack.sh up), paired rounds on the same machine, median of
# BENCH_REPEAT (default 3):
#   (A) the portal's capture: verify.Capture through scripts/benchcapture, the
#       real path: pg_dump -> seekable parallel gzip writer (all cores, within
#       PORTAL_CAPTURE_MEMORY_MIB) -> multipart upload to the local S3 server;
#       timed to the completed upload (the "snapshot captured" log line). The
#       verification pass that follows (reads it back, builds the access index)
#       is printed apart.
#   (G) pg_dump | gzip > /dev/null (gzip -6, one core)
#   (D) pg_dump > /dev/null: the floor, where the time goes
# Goal: A <= 0.6 x G. Also peak RSS of A (capture and verification).
# The database: pgbench tables with foreign keys, an events table with jsonb and
# md5 text, a small lookup table, sized to about BENCH_CAPTURE_MIB (default 2048)
# MiB of plain dump. BENCH_DIR, BENCH_KEEP=1. Wall-clock times: run it on a quiet
# machine.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
mib=${BENCH_CAPTURE_MIB:-2048}
repeat=${BENCH_REPEAT:-3}
bench_work bench-capture
need_time
db=bench_capture_src
ref=bench-capture
cleanup() {
	if [[ ${BENCH_KEEP:-} != 1 ]]; then
		psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
		psql -qX "$pbase/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS bench_capture WITH (FORCE)" >/dev/null 2>&1 || true
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# About 14.5 MiB of plain dump per pgbench scale unit with the events table.
scale=$(( (mib * 10 + 72) / 145 ))
(( scale >= 1 )) || scale=1
echo "bench: building $db (pgbench scale $scale, events $((scale * 50000)) rows) for ~${mib} MiB of dump" >&2
events_db "$db" "$scale" # bench-lib.sh: the database of scripts/bench.sh
psql -qX "$(url "$db")" -c "SET client_min_messages = warning" -c "VACUUM ANALYZE" >/dev/null

# The portal side: a portal database of its own, the project registered, a bucket.
portal_db bench_capture
export PORTAL_S3_BUCKET=bench-capture PORTAL_S3_PREFIX=bench PORTAL_METRICS_ADDR=127.0.0.1:0 PORTAL_SMTP_ADDR= PORTAL_CAPTURE_SCHEDULE=
go build -o "$work/benchcapture" ./scripts/benchcapture
"$work/benchcapture" setup "$ref" "$db"

# Warm-up (and the dump's size): one pg_dump read through.
plain=$("$bin/pg_dump" --no-owner --no-privileges -d "$(url $db)" | wc -c)
plain_mib=$(echo "$plain / 1048576" | bc -l | xargs printf '%.0f')
echo "bench: plain dump ${plain_mib} MiB; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

A=() V=() G=() D=() AR=() RA=()
gz_bytes=0
for i in $(seq "$repeat"); do
	"$timebin" -v -o "$work/rss_a.txt" "$work/benchcapture" capture "$ref" >"$work/a.out"
	A+=("$(val capture_s "$work/a.out")"); V+=("$(val verify_s "$work/a.out")"); AR+=("$(rss_mib "$work/rss_a.txt")")
	gz_bytes=$(val gzip_bytes "$work/a.out")

	t0=$(now)
	"$bin/pg_dump" --no-owner --no-privileges -d "$(url $db)" | gzip >/dev/null
	G+=("$(secs "$t0")")

	t0=$(now)
	"$bin/pg_dump" --no-owner --no-privileges -d "$(url $db)" >/dev/null
	D+=("$(secs "$t0")")
	RA+=("$(ratio "${A[-1]}" "${G[-1]}")")
	echo "bench: round $i: A ${A[-1]}s (+ verify ${V[-1]}s)  G ${G[-1]}s  D ${D[-1]}s  A/G ${RA[-1]}" >&2
done
gzip_mib=$(echo "$gz_bytes / 1048576" | bc -l | xargs printf '%.0f')
a=$(median "${A[@]}") v=$(median "${V[@]}") g=$(median "${G[@]}") d=$(median "${D[@]}")
cat <<EOF2

== results: ${plain_mib} MiB plain dump, capture ${gzip_mib} MiB seekable gzip, $(nproc) cores, median of $repeat paired rounds
   (rough if the machine is loaded: load average at the end $(cut -d' ' -f1-3 /proc/loadavg))
(A) portal capture (pg_dump -> seekable writer -> S3)   ${a}s   A/G = $(ratio "$a" "$g") (goal <= 0.60)
(G) pg_dump | gzip > /dev/null                          ${g}s
(D) pg_dump > /dev/null                                 ${d}s   D/G = $(ratio "$d" "$g")
rounds: A ${A[*]} | G ${G[*]} | D ${D[*]} | A/G per round ${RA[*]}
verification after the capture (read back from S3, access index built): ${v}s
peak RSS of the capture process (capture and verification): $(median "${AR[@]}") MiB
where the time goes: pg_dump alone is ${d}s; gzip -6 on one core adds $(echo "$g - $d" | bc -l | xargs printf '%.2f')s to it;
  the capture adds $(echo "$a - $d" | bc -l | xargs printf '%.2f')s to pg_dump (compression on all cores overlaps it; the last members and the upload's last parts after it)
EOF2
