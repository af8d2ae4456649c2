#!/usr/bin/env bash
# Restore drills on the dev stack (scripts/stack.sh up): drills per hour, and a
# drill's overhead over a plain `worker apply` of the same snapshot (goal: at
# most 1.2x), on the 3 demo projects and on a generated larger project.
#   1. seeds the demo projects into a portal database of its own (bench_drill),
#      bucket bench-drill, prefix benchdrill; syncs and verifies the newest
#      snapshot of each (scripts/benchdrill setup);
#   2. builds bench_drill_big on the project cluster, owned by an unprivileged
#      role: customers and orders (a foreign key, a unique and two secondary
#      indexes) of about BENCH_DRILL_MIB MiB of dump text (default 300;
#      0 skips it), and captures a verified snapshot of it (setup-large);
#   3. BENCH_ROUNDS rounds (default 3) of pairs, per project: `worker apply
#      --dump s3://... --database-url` of the snapshot into a fresh empty
#      database (the CREATE DATABASE ... TEMPLATE template0 statement, the
#      drill's, timed apart by psql's \timing: without psql's start and
#      connect), and one drill of it with the
#      real drill worker (restore as the owner role, row counts, amcheck on
#      every B-tree index, foreign keys, drop; scripts/benchdrill drill-one).
#      The pair's order alternates by round;
#   4. prints, per project, the medians and the ratios median drill / median
#      apply (the goal's) and median drill / median (CREATE DATABASE + apply),
#      where the drill's time went (its median run's phases), and drills per
#      hour (demo projects: 3 over the sum of their median walls, job pickup
#      included; the large one alone).
# Wall-clock figures: on a loaded machine they are rough; rerun quietly.
# BENCH_KEEP=1 keeps bench_drill and bench_drill_big.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
rounds=${BENCH_ROUNDS:-3}
mib=${BENCH_DRILL_MIB:-300}
admin=$PORTAL_PROJECTS_ADMIN_URL
pbase=${PORTAL_DATABASE_URL%%\?*}
pbase=${pbase%/*}
big=bench_drill_big
bigowner=bench_drill_big_owner
work=$(mktemp -d /tmp/portal-bench-drill.XXXXXX)
cleanup() {
	drop_like 'bench_apply_%'
	if [[ ${BENCH_KEEP:-0} != 1 ]]; then
		psql -qX "$pbase/postgres?sslmode=disable" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_drill WITH (FORCE)" >/dev/null || true
		psql -qX "$admin" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $big WITH (FORCE)" >/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

portal_db bench_drill
export PORTAL_S3_BUCKET=bench-drill PORTAL_S3_PREFIX=benchdrill PORTAL_METRICS_ADDR=127.0.0.1:0 PORTAL_SMTP_ADDR= PORTAL_CAPTURE_SCHEDULE=
export PORTAL_DRILL_CONCURRENCY=1 PORTAL_LOG_LEVEL=warn
go build -o "$work/benchdrill" ./scripts/benchdrill
go build -o "$work/worker" ./cmd/worker

echo "== drills check B-tree indexes against the heap: PORTAL_DRILL_HEAP_CHECK=${PORTAL_DRILL_HEAP_CHECK:-computed}"
echo "== demo projects, newest verified snapshots"
"$work/benchdrill" setup >"$work/snaps"
sed 's/^/   /' "$work/snaps"

if ((mib > 0)); then
	# About 132 bytes of dump text per order (with its share of customers).
	orders=$((mib * 1048576 / 132))
	customers=$((orders / 10 + 1))
	echo "== $big: about $mib MiB of dump text ($orders orders, $customers customers)"
	t0=$(date +%s)
	psql -qX "$admin" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $big WITH (FORCE);
DO \$\$ BEGIN CREATE ROLE $bigowner; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
CREATE DATABASE $big OWNER $bigowner;
SQL
	burl="${admin%%\?*}"; burl="${burl%/*}/$big?sslmode=disable"
	psql -qX "$burl" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
SET ROLE $bigowner;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE orders (id bigint NOT NULL, customer_id bigint NOT NULL, amount numeric(12, 2) NOT NULL, status text NOT NULL,
	note text NOT NULL, placed_at timestamptz NOT NULL);
INSERT INTO customers SELECT g, 'user' || g || '@example.com', md5(g::text), now() - g * interval '1 minute' FROM generate_series(1::bigint, $customers) g;
INSERT INTO orders SELECT g, 1 + (g * 7919) % $customers, (g % 100000) / 100.0, (ARRAY['new', 'paid', 'shipped', 'returned'])[1 + g % 4],
	md5(g::text) || md5((g * 3)::text), now() - g * interval '1 second' FROM generate_series(1::bigint, $orders) g;
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE customers ADD CONSTRAINT customers_email UNIQUE (email);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_placed ON orders (placed_at);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers;
RESET ROLE;
VACUUM ANALYZE customers, orders;
SQL
	echo "   built in $(($(date +%s) - t0))s: $(psql -qAtX "$admin" -c "SELECT pg_size_pretty(pg_database_size('$big'))") on disk"
	"$work/benchdrill" setup-large bench-drill-big "$big" "$bigowner" >>"$work/snaps" 2> >(sed 's/^/   /' >&2)
fi

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A apply create drill recov wall phases
pair_apply() {
	local ref=$1 key=$2 db="bench_apply_${1//-/_}" c t0 t1
	psql -qX "$admin" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	# The statement alone, as psql's \timing reports it (its round trip, not
	# psql's start and connect), and the drill's: from template0.
	c=$(psql -qX "$admin" -c '\timing on' -c "CREATE DATABASE $db TEMPLATE template0" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	[[ -n $c ]] || { echo "bench-drill: no \\timing figure for CREATE DATABASE $db" >&2; exit 1; }
	local url="${admin%%\?*}"
	url="${url%/*}/$db?sslmode=disable"
	t0=$(now)
	"$work/worker" apply --dump "s3://$PORTAL_S3_BUCKET/$key" --database-url "$url" 2>"$work/apply.log" || { cat "$work/apply.log" >&2; exit 1; }
	t1=$(now)
	psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	create[$ref]+=" $c"
	apply[$ref]+=" $(ms "$t0" "$t1")"
	printf '   apply %-16s %8.2fs (the CREATE DATABASE statement before it %.3fs)\n' "$ref" "$(echo "$(ms "$t0" "$t1") / 1000" | bc -l)" "$(echo "$c / 1000" | bc -l)"
}
pair_drill() {
	local ref=$1 line kind r d rc w ph
	line=$("$work/benchdrill" drill-one "$ref")
	read -r kind r d rc w ph <<<"$line"
	drill[$ref]+=" $d"
	recov[$ref]+=" $rc"
	wall[$ref]+=" $w"
	phases[$ref:$d]=$ph
	printf '   drill %-16s %8.2fs (recovery %.2fs; %s)\n' "$ref" "$(echo "$d / 1000" | bc -l)" "$(echo "$rc / 1000" | bc -l)" "$ph"
}

echo "== $rounds round(s) of pairs: worker apply and a drill of the same snapshot"
for ((r = 0; r < rounds; r++)); do
	while read -r ref key; do
		if ((r % 2 == 0)); then
			pair_apply "$ref" "$key"
			pair_drill "$ref"
		else
			pair_drill "$ref"
			pair_apply "$ref" "$key"
		fi
	done <"$work/snaps"
done

echo "== results: medians of $rounds (rough: the machine is shared and loaded; load average $(cut -d' ' -f1-3 /proc/loadavg))"
worst_demo=0
demo_wall=0
while read -r ref key; do
	a=$(median <<<"${apply[$ref]}")
	c=$(median <<<"${create[$ref]}")
	d=$(median <<<"${drill[$ref]}")
	rc=$(median <<<"${recov[$ref]}")
	w=$(median <<<"${wall[$ref]}")
	ratio=$(echo "$d / $a" | bc -l)
	printf '   %-16s drill %.2fs / worker apply %.2fs = %.2fx (goal <= 1.2x); recovery alone %.2fx; drill / (CREATE DATABASE + apply %.2fs) = %.2fx\n' \
		"$ref" "$(echo "$d / 1000" | bc -l)" "$(echo "$a / 1000" | bc -l)" "$ratio" "$(echo "$rc / $a" | bc -l)" \
		"$(echo "($a + $c) / 1000" | bc -l)" "$(echo "$d / ($a + $c)" | bc -l)"
	# The phases of the round whose drill took the median time (or the nearest).
	best=
	for x in ${drill[$ref]}; do
		if [[ -z $best ]] || (($(echo "($x - $d)^2 < ($best - $d)^2" | bc -l))); then best=$x; fi
	done
	printf '   %-16s where the median drill went: %s\n' "" "${phases[$ref:$best]}"
	if [[ $ref == bench-drill-big ]]; then
		printf '   %-16s drills per hour (this project alone, concurrency 1): %.0f\n' "" "$(echo "3600000 / $w" | bc -l)"
	else
		demo_wall=$(echo "$demo_wall + $w" | bc -l)
		if (($(echo "$ratio > $worst_demo" | bc -l))); then worst_demo=$ratio; fi
	fi
done <"$work/snaps"
printf '   drills per hour (the 3 demo projects, concurrency 1, job pickup included): %.0f\n' "$(echo "3 * 3600000 / $demo_wall" | bc -l)"
printf '   worst demo overhead %.2fx\n' "$worst_demo"
