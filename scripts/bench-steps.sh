#!/usr/bin/env bash
# Time a full destructive restore of a ~1 GB database spends in each step, before
# and after, on the dev stack (scripts/stack.sh up), in one run on one machine:
#   before: scripts/bench-restore.sh of $BENCH_BASELINE (default 8acc23f, main before the
#           step log) in a temporary git worktree; its steps come from the ticket's result;
#   after:  scripts/bench-restore.sh of this tree; its steps are read from the ticket's
#           step log (ticket_steps, migration 0015), with the bytes each step moved.
# Then one table: step, seconds before, seconds after, after/before. BENCH_SCALE and
# BENCH_WIDE_ROWS are passed on (see bench-restore.sh). Wall-clock figures: run it on a
# quiet machine, and more than once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
set -a
# shellcheck disable=SC1091
. .stack/env
set +a
baseline=${BENCH_BASELINE:-8acc23f}
work=$(mktemp -d /tmp/portal-bench-steps.XXXXXX)
base_tree="$work/baseline"
cleanup() {
	git -C "$root" worktree remove --force "$base_tree" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" worktree add --detach "$base_tree" "$baseline" >/dev/null 2>&1
ln -s "$root/.stack" "$base_tree/.stack"

echo "== before: $baseline"
(cd "$base_tree" && scripts/bench-restore.sh) | tee "$work/before.txt"
echo "== after: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo '+changes')"
scripts/bench-restore.sh | tee "$work/after.txt"

# The after run's ticket, and its step log in the benchmark's portal database.
ticket=$(sed -n 's/^== restore (ticket \([0-9]*\)).*/\1/p' "$work/after.txt")
pbase=${PORTAL_DATABASE_URL%%\?*}
portal="${pbase%/*}/bench_restore?sslmode=disable"
psql -qAtX -F $'\t' "$portal" -c "SELECT step, extract(epoch FROM finished_at - started_at), coalesce(bytes, 0), array_to_string(names, ' ')
	FROM ticket_steps WHERE ticket_id = $ticket AND op = 'restore' AND finished_at IS NOT NULL ORDER BY id" >"$work/after.log"

echo
echo "== seconds per step (before: the ticket's result; after: ticket_steps)"
# bench-restore.sh prints each step of the result as "%-16s %9.1fs".
awk -F'\t' '
	FNR == NR { if (match($0, /^[a-z][a-z -]* +[0-9.]+s$/) && length($0) > 17) { s = substr($0, 1, 16); sub(/ +$/, "", s); v = $0; sub(/^.* /, "", v); sub(/s$/, "", v); before[s] = v } ; next }
	{ order[++n] = $1; after[$1] += $2; bytes[$1] += $3; made[$1] = $4 }
	END {
		printf "%-16s %10s %10s %8s  %s\n", "step", "before s", "after s", "ratio", "moved / made (after)"
		for (i = 1; i <= n; i++) {
			s = order[i]; if (seen[s]++) continue
			b = (s in before) ? before[s] : ""
			r = (b != "" && b + 0 >= 0.05) ? sprintf("%.2f", after[s] / b) : "-"
			m = bytes[s] > 0 ? sprintf("%.1f MB", bytes[s] / 1e6) : ""
			printf "%-16s %10s %10.1f %8s  %s %s\n", s, b, after[s], r, m, made[s]
			ta += after[s]; if (b != "") tb += b
		}
		r = (tb > 0) ? sprintf("%.2f", ta / tb) : "-"
		printf "%-16s %10.1f %10.1f %8s\n", "total", tb, ta, r
	}' "$work/before.txt" "$work/after.log"
