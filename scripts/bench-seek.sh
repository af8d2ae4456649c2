#!/usr/bin/env bash
# Seekable snapshots (issue 14) on the dev stack (scripts/stack.sh up):
#   1. generates a plain pg_dump-shaped dump of $BENCH_SEEK_MIB MiB (default 2200):
#      three large tables, then a small table (public.late, 2000 rows), then
#      post-data; gzip -6 as the platform's capture writes it; uploads it to S3;
#      also compresses it with seekgz.Writer (as captures now do): time, size, and
#      the size of its index;
#   2. baseline: gunzip > /dev/null of the whole dump (local file);
#   3. the verification pass from S3 without and with the access index, and the
#      index's size (scripts/benchseek);
#   4. restore of public.late into a fresh database through the index (index
#      fetch, ranged GETs, restore.Apply), and the same reading the whole dump.
# Prints ratios against the issue's goals: late table <= 0.1x gunzip, index build
# <= +10% of verification, index <= 1% of the compressed dump. Wall-clock times:
# run it on a quiet machine.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
mib=${BENCH_SEEK_MIB:-2200}
key=bench-seek/bench/20260101T000000Z.sql.gz
work=$(mktemp -d /tmp/portal-bench-seek.XXXXXX)
trap 'rm -rf "$work"' EXIT

go build -o "$work/benchseek" ./scripts/benchseek
echo "== generating a ${mib} MiB plain dump"
"$work/benchseek" gen "$mib" > "$work/dump.sql"
echo "== compressing it: gzip -6 (as pg_dump | gzip), then seekgz.Writer (as captures now do)"
t0=$(now)
gzip -6 < "$work/dump.sql" > "$work/dump.sql.gz"
gzip_s=$(echo "$(now) - $t0" | bc)
t0=$(now)
"$work/benchseek" compress < "$work/dump.sql" > "$work/seek.sql.gz"
seekw_s=$(echo "$(now) - $t0" | bc)
rm "$work/dump.sql"
gzip_b=$(stat -c %s "$work/dump.sql.gz")
seekw_b=$(stat -c %s "$work/seek.sql.gz")
"$work/benchseek" index "$work/seek.sql.gz" > "$work/seekidx"
rm "$work/seek.sql.gz"
echo "== uploading to s3://$PORTAL_S3_BUCKET/$key"
"$work/benchseek" put "$key" "$work/dump.sql.gz"

echo "== baseline: gunzip > /dev/null of the whole dump"
t0=$(now)
gunzip -c "$work/dump.sql.gz" > /dev/null
gunzip_s=$(echo "$(now) - $t0" | bc)
echo "   ${gunzip_s}s"

echo "== verification passes and restores of public.late (benchseek run)"
"$work/benchseek" run "$key" | tee "$work/out"
cat "$work/seekidx" >> "$work/out"
val() { awk -v k="$1" '$1 == k { print $2 }' "$work/out"; }
echo
echo "== results (rough: the machine is shared)"
awk -v g="$gunzip_s" -v r="$(val late_ranged_s)" -v f="$(val late_full_s)" \
	-v rb="$(val late_ranged_s3_bytes)" -v fb="$(val late_full_s3_bytes)" -v c="$(val compressed_bytes)" \
	-v gz="$gzip_s" -v sw="$seekw_s" -v gzb="$gzip_b" -v swb="$seekw_b" -v sib="$(val seek_index_bytes)" -v scp="$(val seek_checkpoints)" \
	-v vp="$(val verify_plain_s)" -v vs="$(val verify_seekgz_s)" -v vi="$(val verify_index_s)" -v ib="$(val index_bytes)" -v cp="$(val checkpoints)" 'BEGIN {
	printf "late table via index:   %6.2fs = %.3fx gunzip (goal <= 0.1x); S3 bytes read %d (%.2f%% of %d)\n", r, r / g, rb, 100 * rb / c, c
	printf "late table, full read:  %6.2fs = %.3fx gunzip (before the index); S3 bytes read %d\n", f, f / g, fb
	printf "verification:           %6.2fs before (compress/gzip), %.2fs with index build = %+.1f%% (goal <= +10%%)\n", vp, vi, 100 * (vi - vp) / vp
	printf "  the index build alone: %.2fs seekgz without it, %.2fs with it = %+.1f%%\n", vs, vi, 100 * (vi - vs) / vs
	printf "index size:             %d bytes, %d checkpoints = %.3f%% of the compressed dump (goal <= 1%%)\n", ib, cp, 100 * ib / c
	printf "capture compression:    gzip -6 %.1fs, %d bytes; seekgz.Writer %.1fs = %.2fx, %d bytes (%+.1f%%)\n", gz, gzb, sw, sw / gz, swb, 100 * (swb - gzb) / gzb
	printf "  its index:            %d bytes, %d checkpoints = %.3f%% of it\n", sib, scp, 100 * sib / swb
}'
echo "== removing the benchmark objects"
"$work/benchseek" rm "$key"
