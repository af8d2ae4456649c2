#!/usr/bin/env bash
# Performance figures of the dump engine against the baselines of issue 3, from
# one run on this machine:
#   (a) gunzip -c dump.sql.gz | psql   into a fresh database
#   (b) pg_restore -j 2                of a custom-format dump of the same database
#   (c) worker apply                   (default jobs) of dump.sql.gz
#   extraction of one small table with worker apply --table vs gunzip > /dev/null
#   peak RSS of worker apply at two dump sizes
# Goals: (c) <= 0.8 x (a) and <= 1.0 x (b); extraction <= 1.3 x gunzip; RSS <= 150 MiB.
#
# Reads the stack's settings from .stack/env (scripts/stack.sh up). Tunables:
#   BENCH_SCALE (default 22: ~320 MiB plain dump), BENCH_SMALL_SCALE (default 10: ~145 MiB, above the 80 MiB read-ahead budget),
#   BENCH_DIR (work folder, default a temp dir, removed unless BENCH_KEEP=1),
#   BENCH_REPEAT (default 2: each timing is the best of that many runs, because the
#   machine may be shared).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
scale=${BENCH_SCALE:-22}
small_scale=${BENCH_SMALL_SCALE:-10}
bench_work bench
worker=$work/worker
go build -o "$worker" ./cmd/worker
need_time
trap cleanup_work EXIT
# seconds runs a command and prints its wall time in seconds (stdout of the command discarded).
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.2f'
}
repeat=${BENCH_REPEAT:-2}
# best runs "$@" $repeat times and prints the smallest wall time.
best() {
	local b="" t
	for _ in $(seq "$repeat"); do
		t=$("$@")
		if [[ -z $b ]] || (($(echo "$t < $b" | bc -l))); then b=$t; fi
	done
	echo "$b"
}
# generate DB SCALE: the pgbench and events database (bench-lib.sh events_db).
generate() { events_db "$1" "$2"; }

dump() {
	local db=$1 out=$2
	"$bin/pg_dump" --no-owner --no-privileges -d "$(url "$db")" | gzip >"$out.sql.gz"
	"$bin/pg_dump" --no-owner --no-privileges -Fc -d "$(url "$db")" -f "$out.dump"
}

echo "bench: generating scale $scale and $small_scale databases in $work ..." >&2
generate bench_src "$scale"
dump bench_src "$work/big"
generate bench_src_small "$small_scale"
dump bench_src_small "$work/small"
plain_mb=$(gunzip -c "$work/big.sql.gz" | wc -c | awk '{printf "%.0f", $1/1048576}')
small_mb=$(gunzip -c "$work/small.sql.gz" | wc -c | awk '{printf "%.0f", $1/1048576}')
gz_mb=$(du -m "$work/big.sql.gz" | cut -f1)
echo "bench: dump ${plain_mb} MiB plain (${gz_mb} MiB gzip); small dump ${small_mb} MiB" >&2

run_gunzip() { checkpoint; seconds sh -c "gunzip -c '$work/big.sql.gz' >/dev/null"; }
run_a() {
	newdb bench_a; checkpoint
	seconds sh -c "gunzip -c '$work/big.sql.gz' | psql -qX -v ON_ERROR_STOP=1 '$(url bench_a)'"
	psql -qX "$admin" -c "DROP DATABASE bench_a WITH (FORCE)"
}
run_b() {
	newdb bench_b; checkpoint
	seconds "$bin/pg_restore" -j 2 --no-owner --no-privileges -d "$(url bench_b)" "$work/big.dump"
	psql -qX "$admin" -c "DROP DATABASE bench_b WITH (FORCE)"
}
run_c() {
	newdb bench_c; checkpoint
	seconds "$timebin" -v -o "$work/rss_big.txt" "$worker" apply --dump "$work/big.sql.gz" --database-url "$(url bench_c)"
	psql -qX "$admin" -c "DROP DATABASE bench_c WITH (FORCE)"
}
run_c2() {
	newdb bench_c; checkpoint
	seconds "$worker" apply --reread --dump "$work/big.sql.gz" --database-url "$(url bench_c)"
	psql -qX "$admin" -c "DROP DATABASE bench_c WITH (FORCE)"
}
run_x() {
	newdb bench_x; checkpoint
	seconds "$worker" apply --dump "$work/big.sql.gz" --database-url "$(url bench_x)" --table public.small_lookup
	psql -qX "$admin" -c "DROP DATABASE bench_x WITH (FORCE)"
}
dbs+=(bench_a bench_b bench_c)
t_gunzip=$(best run_gunzip)
t_a=$(best run_a)
t_b=$(best run_b)
t_c=$(best run_c)
t_c2=$(best run_c2)
t_x=$(best run_x)
newdb bench_x
"$worker" apply --dump "$work/big.sql.gz" --database-url "$(url bench_x)" --table public.small_lookup 2>/dev/null
rows_x=$(psql -qXAt "$(url bench_x)" -c "SELECT count(*) FROM public.small_lookup")

newdb bench_s; checkpoint
"$timebin" -v -o "$work/rss_small.txt" "$worker" apply --dump "$work/small.sql.gz" --database-url "$(url bench_s)" 2>/dev/null

cat <<REPORT
dump: ${plain_mb} MiB plain, ${gz_mb} MiB gzip (pgbench scale $scale + events); jobs default = $(nproc) CPUs; best of $repeat runs
gunzip > /dev/null            ${t_gunzip}s
(a) gunzip | psql             ${t_a}s
(b) pg_restore -j 2           ${t_b}s
(c) worker apply              ${t_c}s    c/a = $(ratio "$t_c" "$t_a") (goal <= 0.80)   c/b = $(ratio "$t_c" "$t_b") (goal <= 1.00)
(c) with --reread (info)      ${t_c2}s    c/a = $(ratio "$t_c2" "$t_a")   c/b = $(ratio "$t_c2" "$t_b")
extract one small table       ${t_x}s    x/gunzip = $(ratio "$t_x" "$t_gunzip") (goal <= 1.30), ${rows_x} rows
peak RSS worker apply         $(rss_mib "$work/rss_small.txt") MiB at ${small_mb} MiB dump, $(rss_mib "$work/rss_big.txt") MiB at ${plain_mb} MiB dump (goal <= 150)
REPORT
