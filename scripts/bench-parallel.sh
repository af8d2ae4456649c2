#!/usr/bin/env bash
# Parallel decompression for full restores (issue 14 item 4), on the dev stack
# (scripts/stack.sh up), paired rounds, median of BENCH_REPEAT (default 3):
#   (P) full restore through the access index: the big tables' data inflated
#       from their checkpoints by 2 readers at once, applied by restore.Apply
#       with 2 connections (scripts/benchparallel; the dump is a local file, as
#       for the others)
#   (R) pg_restore -j 2 of a custom-format dump of the same database
#   (S) today's sequential path: worker apply (one gunzip stream, 2 connections)
#   (PP) P with tables of 64 MiB or more read in pieces (PORTAL_SPLIT_TABLES_MIB=64)
# plus peak RSS of P and S, and where P's time goes: gunzip > /dev/null and the
# parts' inflation alone (decompression), the main stream reaching post-data,
# the parts' read time, and post-data (keys, indexes, foreign keys) after the
# last part. Goals: P <= 0.8 x R, peak RSS <= 150 MiB.
# Tunables: BENCH_SCALE (default 22: pgbench scale, ~320 MiB plain), BENCH_REPEAT,
# BENCH_DIR, BENCH_KEEP=1. Wall-clock times: run it on a quiet machine.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
scale=${BENCH_SCALE:-22}
repeat=${BENCH_REPEAT:-3}
bench_work bench-parallel
go build -o "$work/worker" ./cmd/worker
go build -o "$work/benchparallel" ./scripts/benchparallel
need_time
trap cleanup_work EXIT
canon() { "$bin/pg_dump" --no-owner --no-privileges -d "$(url "$1")" | grep -Ev '^\\(un)?restrict |^-- Dumped (from|by) ' | md5sum | cut -d' ' -f1; }
# The same, insensitive to row order (a table loaded in pieces stores its rows in another order).
canon_sorted() { "$bin/pg_dump" --no-owner --no-privileges -d "$(url "$1")" | grep -Ev '^\\(un)?restrict |^-- Dumped (from|by) ' | LC_ALL=C sort | md5sum | cut -d' ' -f1; }

# The database of scripts/bench.sh (bench-lib.sh events_db).
events_db bench_psrc "$scale"
"$bin/pg_dump" --no-owner --no-privileges -d "$(url bench_psrc)" | gzip -6 >"$work/big.sql.gz"
"$bin/pg_dump" --no-owner --no-privileges -Fc -d "$(url bench_psrc)" -f "$work/big.dump"
dropdb bench_psrc
plain_mb=$(gunzip -c "$work/big.sql.gz" | wc -c | awk '{printf "%.0f", $1/1048576}')
gz_mb=$(du -m "$work/big.sql.gz" | cut -f1)
"$work/benchparallel" index "$work/big.sql.gz" "$work/big.idx" >"$work/index.out"
echo "bench: dump ${plain_mb} MiB plain, ${gz_mb} MiB gzip; index $(val index_bytes "$work/index.out") bytes, $(val checkpoints "$work/index.out") checkpoints, $(val parts "$work/index.out") parts ($(val pieces "$work/index.out") pieces when split at 64 MiB)" >&2

t0=$(now); gunzip -c "$work/big.sql.gz" >/dev/null; gunzip_s=$(secs "$t0")
"$work/benchparallel" inflate "$work/big.sql.gz" "$work/big.idx" 2 >"$work/inflate.out"

P=() R=() S=() PR=() SR=() PM=() PL=() PD=() PP=()
for i in $(seq "$repeat"); do
	newdb bench_pp; checkpoint
	t0=$(now)
	"$timebin" -v -o "$work/rss_p.txt" "$work/benchparallel" apply "$work/big.sql.gz" "$work/big.idx" "$(url bench_pp)" 2 >"$work/p.out"
	P+=("$(secs "$t0")"); PR+=("$(rss_mib "$work/rss_p.txt")")
	PM+=("$(val main_stream_to_post_data_s "$work/p.out")"); PL+=("$(val last_part_read_at_s "$work/p.out")"); PD+=("$(val post_data_after_s "$work/p.out")")

	# (PP) the same with tables of 64 MiB or more in pieces (PORTAL_SPLIT_TABLES_MIB=64).
	newdb bench_p1; checkpoint
	t0=$(now)
	BENCH_SPLIT_MIB=64 "$work/benchparallel" apply "$work/big.sql.gz" "$work/big.idx" "$(url bench_p1)" 2 >/dev/null
	PP+=("$(secs "$t0")")
	[[ $i == 1 ]] || dropdb bench_p1

	newdb bench_pr; checkpoint
	t0=$(now)
	"$bin/pg_restore" -j 2 --no-owner --no-privileges -d "$(url bench_pr)" "$work/big.dump"
	R+=("$(secs "$t0")")
	dropdb bench_pr

	newdb bench_ps; checkpoint
	t0=$(now)
	"$timebin" -v -o "$work/rss_s.txt" "$work/worker" apply --jobs 2 --dump "$work/big.sql.gz" --database-url "$(url bench_ps)" 2>/dev/null
	S+=("$(secs "$t0")"); SR+=("$(rss_mib "$work/rss_s.txt")")
	if [[ $i == 1 ]]; then
		same=$([[ $(canon bench_pp) == "$(canon bench_ps)" ]] && echo yes || echo "NO: the restores differ")
		same_pp=$([[ $(canon_sorted bench_p1) == "$(canon_sorted bench_ps)" ]] && echo yes || echo "NO: the restores differ")
		dropdb bench_p1
	fi
	dropdb bench_pp; dropdb bench_ps
	echo "bench: round $i: P ${P[-1]}s  PP ${PP[-1]}s  R ${R[-1]}s  S ${S[-1]}s" >&2
done
p=$(median "${P[@]}") r=$(median "${R[@]}") s=$(median "${S[@]}")
cat <<EOF2

== results: ${plain_mb} MiB plain dump (${gz_mb} MiB gzip), median of $repeat paired rounds (rough if the machine is loaded)
(P) full restore in parts via the index   ${p}s   P/R = $(ratio "$p" "$r") (goal <= 0.80)   P/S = $(ratio "$p" "$s")
(PP) the same, tables >= 64 MiB in pieces  $(median "${PP[@]}")s   PP/P = $(ratio "$(median "${PP[@]}")" "$p") (PORTAL_SPLIT_TABLES_MIB=64; under 1 is a gain)
(R) pg_restore -j 2 (custom dump)          ${r}s
(S) worker apply, sequential                ${s}s
rounds: P ${P[*]} | PP ${PP[*]} | R ${R[*]} | S ${S[*]}
peak RSS: P $(median "${PR[@]}") MiB, S $(median "${SR[@]}") MiB (goal <= 150)
same database restored by P and S: $same; by PP and S (rows in any order): $same_pp
where P's time goes (medians):
  decompression: gunzip > /dev/null ${gunzip_s}s on one core; the parts and main stream inflated alone (2 readers) $(val inflate_s "$work/inflate.out")s
  main stream (pre-data, small tables, post-data entries) read to its end at $(median "${PM[@]}")s
  last part read (its COPY streamed) at $(median "${PL[@]}")s
  after that until done (last COPYs stored, keys, indexes, foreign keys): ~$(echo "$p - $(median "${PL[@]}")" | bc -l | xargs printf '%.2f')s
EOF2
