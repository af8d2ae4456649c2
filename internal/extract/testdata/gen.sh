#!/usr/bin/env bash
# Regenerates the golden dumps in this folder from a real Postgres 15 with real
# pg_dump 15: loads internal/restore/testdata/source.sql (every feature of the
# correctness bar) into a scratch database and dumps it as the daily job does.
# Then run `go test ./internal/extract -run Golden -update` to refresh *.golden.
#
# usage: internal/extract/testdata/gen.sh [ADMIN_URL]
# ADMIN_URL defaults to PORTAL_PROJECTS_ADMIN_URL from .stack/env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
if [[ $# -ge 1 ]]; then
	admin=$1
else
	# shellcheck disable=SC1091
	source "$root/.stack/env"
	admin=$PORTAL_PROJECTS_ADMIN_URL
fi
bin=${PORTAL_PG_BIN:-/usr/lib/postgresql/15/bin}
db=extract_golden_$$
base=${admin%/*}
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$base/$db" -f "$root/internal/restore/testdata/source.sql" >/dev/null 2>&1
"$bin/pg_dump" --no-owner --no-privileges -d "$base/$db" >"$here/full.sql"
"$bin/pg_dump" --no-owner --no-privileges -t 'storage.buckets' -t 'public."User Events"*' -d "$base/$db" >"$here/tables.sql"
"$bin/pg_dump" --no-owner --no-privileges --schema-only -d "$base/$db" >"$here/schema.sql"
echo "wrote $here/{full,tables,schema}.sql"
