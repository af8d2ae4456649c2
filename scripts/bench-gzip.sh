#!/usr/bin/env bash
# Compression figures for issue 17: decompressing a ~32 MiB dump (what a restore, a
# verification and worker apply do) with klauspost/compress/gzip against the standard
# library's compress/gzip (the baseline), and compressing it (what a capture does) with
# klauspost/pgzip's parallel writer against compress/gzip. Prints each speed-up
# (baseline time / new time; above 1 is faster) and the compressed size ratio of each
# writer. Needs no stack: the benchmarks are pure
# (internal/snapshots/gzip_bench_test.go). BENCH_TIME=5x for steadier figures; run
# on a quiet machine, the figures are CPU times of a shared box.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$PATH:/usr/local/go/bin
out=$(go test -run '^$' -bench '^Benchmark(Gunzip|Gzip)' -benchtime "${BENCH_TIME:-3x}" ./internal/snapshots/)
echo "$out" | grep '^Benchmark'
echo "$out" | awk '
	/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); ns[name] = $3
		for (i = 4; i <= NF; i++) if ($(i) == "ratio") size[name] = $(i-1) }
	END {
		printf "read  klauspost/compress/gzip vs compress/gzip: %.2fx faster\n", ns["BenchmarkGunzipStdlib"] / ns["BenchmarkGunzipKlauspost"]
		printf "read  internal/seekgz vs compress/gzip:         %.2fx faster\n", ns["BenchmarkGunzipStdlib"] / ns["BenchmarkGunzipSeekgz"]
		printf "write klauspost/compress/gzip vs compress/gzip: %.2fx faster, size %.3f vs %.3f of the dump\n",
			ns["BenchmarkGzipStdlib"] / ns["BenchmarkGzipKlauspost"], size["BenchmarkGzipKlauspost"], size["BenchmarkGzipStdlib"]
		printf "write klauspost/pgzip vs compress/gzip:         %.2fx faster, size %.3f vs %.3f of the dump\n",
			ns["BenchmarkGzipStdlib"] / ns["BenchmarkGzipPgzip"], size["BenchmarkGzipPgzip"], size["BenchmarkGzipStdlib"]
	}'
