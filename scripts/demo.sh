#!/usr/bin/env bash
# demo.sh: migrate, seed the demo projects when missing, then run a worker in
# the background and the portal in the foreground until Ctrl-C.
# Called by `make demo` after the stack is up and the binaries are built.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .stack/env; set +a
export PORTAL_LOG_LEVEL=${PORTAL_LOG_LEVEL:-info}

bin/portal migrate 2>.stack/migrate.log || { cat .stack/migrate.log >&2; exit 1; }
PORTAL_DEMO_LOGINS_FILE=.stack/demo-logins bin/portal demo 2>.stack/demo-seed.log || { cat .stack/demo-seed.log >&2; exit 1; }

bin/worker run 2>>.stack/worker.log &
worker=$!

cat <<MSG

  Restore portal demo
  -------------------
  Portal:        $PORTAL_BASE_URL/
  Readiness:     $PORTAL_BASE_URL/readyz
  S3 (versitygw) $PORTAL_S3_ENDPOINT  bucket $PORTAL_S3_BUCKET, prefix $PORTAL_S3_PREFIX
  Portal DB:     $PORTAL_DATABASE_URL  (the portal's own cluster)
  Projects:      $PORTAL_PROJECTS_ADMIN_URL  (the project cluster, "default"; restores run here as each project's owner role)
  Logs:          .stack/worker.log (worker); the portal logs here.

  Log in at $PORTAL_BASE_URL/login as (passwords generated on the first run,
  kept in .stack/demo-logins):
$(cat .stack/demo-logins 2>/dev/null || echo "  (no demo logins file; create one with: bin/portal user add --email you@example.com --role admin)")
  Stop with Ctrl-C. The stack keeps running: 'make down' stops it.

MSG
bin/portal serve &
portal=$!
stop() { kill -TERM "$portal" "$worker" 2>/dev/null || true; }
trap stop INT TERM
wait "$portal" || true
stop
wait "$worker" 2>/dev/null || true
