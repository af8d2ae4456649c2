# shellcheck shell=bash
# What the scripts/bench*.sh that run on the dev stack share. Source it right
# after `set -euo pipefail`:
#   . "$(dirname "$0")/bench-lib.sh"
# It moves to the repository root, loads the stack's settings (.stack/env,
# from scripts/stack.sh up), puts Go on PATH, and sets
#   root   the repository            admin  the projects cluster's admin URL
#   base   that cluster, no database  pbase  the portal's Postgres, no database
#   bin    the Postgres binaries      timebin /usr/bin/time (need_time checks it)
# and defines the helpers below.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
set -a
# shellcheck disable=SC1091
. .stack/env
set +a
export PATH=$PATH:/usr/local/go/bin
admin=$PORTAL_PROJECTS_ADMIN_URL
base=${admin%%\?*}
base=${base%/*}
pbase=${PORTAL_DATABASE_URL%%\?*}
pbase=${pbase%/*}
bin=${PORTAL_PG_BIN:-/usr/lib/postgresql/15/bin}
timebin=/usr/bin/time

# need_time stops the bench unless GNU time (peak RSS) is installed.
need_time() { [[ -x $timebin ]] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }; }
# url DB is DB's URL on the projects cluster, as its admin.
url() { echo "$base/$1?sslmode=disable"; }
# newdb DB makes DB anew on the projects cluster and records it in dbs, for
# drop_dbs.
dbs=()
newdb() {
	psql -qX "$admin" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
	dbs+=("$1")
}
dropdb() { psql -qX "$admin" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null; }
# drop_dbs drops every database newdb made (for a cleanup trap).
drop_dbs() { for d in "${dbs[@]}"; do dropdb "$d" 2>/dev/null || true; done; }
# drop_like PATTERN drops every database of the projects cluster whose name
# is LIKE PATTERN.
drop_like() {
	local d
	for d in $(psql -qAtX "$admin" -c "SELECT datname FROM pg_database WHERE datname LIKE '$1'"); do
		psql -qX "$admin" -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null || true
	done
}
# portal_db NAME makes the portal database NAME anew and points
# PORTAL_DATABASE_URL at it, so a bench works in a portal database of its own.
portal_db() {
	psql -qX "$pbase/postgres?sslmode=disable" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
	export PORTAL_DATABASE_URL="$pbase/$1?sslmode=disable"
}
# bench_work NAME sets work to $BENCH_DIR, or else a new /tmp/portal-NAME.XXXXXX,
# and makes it.
bench_work() {
	work=${BENCH_DIR:-$(mktemp -d "/tmp/portal-$1.XXXXXX")}
	mkdir -p "$work"
}
# cleanup_work is the EXIT trap of a bench whose databases newdb made: it drops
# them and removes work unless BENCH_KEEP=1.
cleanup_work() {
	drop_dbs
	[[ ${BENCH_KEEP:-} == 1 ]] || rm -rf "$work"
}
checkpoint() { psql -qX "$admin" -c CHECKPOINT >/dev/null; sync; }
now() { date +%s.%N; }
# secs T0 is the seconds since T0 (a now).
secs() { echo "$(now) - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# rss_mib FILE is the peak RSS in MiB that `time -v -o FILE` recorded.
rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }
# val KEY FILE is the value of the "KEY value" line of FILE.
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# events_db DB SCALE makes DB (newdb) with pgbench's tables at SCALE with
# foreign keys, an events table with a jsonb column, two indexes and a foreign
# key, and a small lookup table: the database of scripts/bench.sh.
events_db() {
	local db=$1 s=$2
	newdb "$db"
	pgbench -i -q -s "$s" --foreign-keys "$(url "$db")" >/dev/null 2>&1
	psql -qX -v ON_ERROR_STOP=1 "$(url "$db")" >/dev/null <<SQL
CREATE TABLE public.small_lookup (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO public.small_lookup SELECT g, 'name ' || g FROM generate_series(1, 100) g;
CREATE TABLE public.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aid integer NOT NULL REFERENCES public.pgbench_accounts (aid),
    kind integer REFERENCES public.small_lookup (id),
    at timestamptz NOT NULL,
    payload jsonb,
    note text
);
INSERT INTO public.events (aid, kind, at, payload, note)
SELECT 1 + (g::bigint * 7919) % ($s * 100000), 1 + g % 100, '2024-01-01'::timestamptz + g * interval '1 second',
       jsonb_build_object('n', g, 'tag', 't' || (g % 17)), md5(g::text) || E'\t' || g
FROM generate_series(1, $s * 50000) g;
CREATE INDEX events_aid_idx ON public.events (aid);
CREATE INDEX events_at_idx ON public.events (at);
SQL
}
