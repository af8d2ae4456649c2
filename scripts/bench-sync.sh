#!/usr/bin/env bash
# Snapshot catalog sync at scale against the local S3 server (issue 4):
# seeds BENCH_SYNC_PROJECTS x BENCH_SYNC_SNAPSHOTS tiny objects (default
# 10,000 x 30) into the bucket BENCH_SYNC_BUCKET (default bench-sync, kept for
# the next run: seeding is the slow part), then times the first (full) sync,
# an idle incremental sync, an incremental sync after 100 new snapshots, an
# idle full sync, a full sync noticing 100 deletions, and the projects list
# queries, on a fresh portal database.
#
#   scripts/bench-sync.sh                          # 10,000 x 30
#   BENCH_SYNC_PROJECTS=1000 scripts/bench-sync.sh # smaller
#
# Needs the dev stack (scripts/stack.sh up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$PATH:/usr/local/go/bin
exec go test ./internal/snapshots/ -run '^$' -bench '^BenchmarkSyncScale$' -benchtime 1x -timeout 3h -v "$@"
