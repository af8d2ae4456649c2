#!/usr/bin/env bash
# stack.sh: the private dev/test stack, with no Docker: two Postgres clusters,
# the portal's own initdb'd into .stack/pg and the project cluster (customer
# databases, restore targets) into .stack/pg-projects, and a versitygw S3
# server with its data in .stack/s3, all on 127.0.0.1 at free ports.
# Idempotent: `up` reuses what runs.
#
#   scripts/stack.sh up        install what is missing, start both, write .stack/env
#   scripts/stack.sh down      stop both (data is kept)
#   scripts/stack.sh status    say what runs
#   scripts/stack.sh env       print the env file path
#   scripts/stack.sh deps      install tools only (Postgres, versitygw, chromium)
#
# Works as root (the server runs as the `postgres` user) and as a normal user.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STACK=${PORTAL_STACK_DIR:-$ROOT/.stack}
ENV_FILE=$STACK/env
VERSITYGW_VERSION=v1.8.0
BUCKET=snapshots
mkdir -p "$STACK"

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else die "need root to run: $* (install it by hand, or install sudo)"; fi
}

apt_install() {
	log "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -f "$STACK/.apt-updated" ]; then
		as_root apt-get update -qq >&2 && touch "$STACK/.apt-updated"
	fi
	as_root apt-get install -y -qq "$@" >&2
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() { # pick_port NAME FIRST: a remembered port, else the first free one from FIRST
	local f="$STACK/$1.port" p
	if [ -s "$f" ]; then cat "$f"; return; fi
	p=$2
	while ! port_free "$p"; do p=$((p + 1)); done
	echo "$p" > "$f"
	echo "$p"
}

# --- Go ----------------------------------------------------------------------
ensure_go() {
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	fi
	if ! command -v go >/dev/null 2>&1; then
		# Debian's Go is older than go.mod asks for; GOTOOLCHAIN=auto then
		# fetches the right toolchain through the module proxy.
		apt_install golang-go ca-certificates
	fi
}

# --- Postgres ------------------------------------------------------------------
find_pg_bin() {
	local d
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		d=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
		[ -x "$d/postgres" ] && { echo "$d"; return; }
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
	done
}

ensure_pg_bin() {
	PG_BIN=$(find_pg_bin)
	if [ -z "$PG_BIN" ]; then
		apt_install postgresql postgresql-contrib
		PG_BIN=$(find_pg_bin)
		[ -n "$PG_BIN" ] || die "installed postgresql but found no initdb under /usr/lib/postgresql/*/bin"
	fi
	command -v pg_dump >/dev/null 2>&1 || [ -x "$PG_BIN/pg_dump" ] || apt_install postgresql-client
}

# pg_run CMD...: run a server binary as the cluster's owner.
pg_run() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Two clusters: the portal's own (catalog, tickets, River) in .stack/pg, and
# the one hosting project databases in .stack/pg-projects. A restore runs a
# customer's dump on the project cluster only; the portal's database never
# lives there, and the project cluster's roles do not exist on the portal's.
CLUSTERS="pg pg-projects"

pg_datadir() { # pg_datadir NAME
	# As root the server runs as `postgres`, which must reach the data folder.
	# When the repo sits under a folder it cannot enter (say /root), the data
	# goes under /var/tmp and .stack/NAME links to it.
	local d=$STACK/$1
	if [ "$(id -u)" = 0 ] && [ ! -e "$d" ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		if ! runuser -u postgres -- test -x "$STACK"; then
			local alt
			alt=/var/tmp/restoreportal-$(printf '%s' "$STACK" | md5sum | cut -c1-12)/$1
			mkdir -p "$alt" && chown -R postgres "$(dirname "$alt")"
			ln -s "$alt" "$d"
			log "postgres cannot enter $STACK; data lives in $alt"
		fi
	fi
	echo "$d"
}

pg_up() { # pg_up NAME FIRST_PORT
	ensure_pg_bin
	local name=$1 data port
	data=$(pg_datadir "$name")
	port=$(pick_port "$name" "$2")
	if [ ! -s "$data/PG_VERSION" ]; then
		log "initdb $name into $data"
		mkdir -p "$data"
		[ "$(id -u)" = 0 ] && chown postgres "$data" && chmod 700 "$data"
		pg_run "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STACK/initdb-$name.log" 2>&1 \
			|| pg_run "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >"$STACK/initdb-$name.log" 2>&1 \
			|| die "initdb failed, see $STACK/initdb-$name.log"
		cat >>"$data/postgresql.conf" <<CONF
# restore portal dev/test cluster ($name): private, fast, not durable
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 256MB
max_wal_size = 4GB
log_min_messages = warning
CONF
	fi
	if pg_run "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		return
	fi
	if ! port_free "$port"; then
		# Our remembered port is taken by someone else: pick another.
		rm -f "$STACK/$name.port"
		port=$(pick_port "$name" $((port + 1)))
	fi
	log "starting postgres ($name) on 127.0.0.1:$port"
	touch "$STACK/$name.log" && { [ "$(id -u)" != 0 ] || chown postgres "$STACK/$name.log" 2>/dev/null || true; }
	local logf=$STACK/$name.log
	[ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -w "$logf" && logf=$data/server.log
	pg_run "$PG_BIN/pg_ctl" -D "$data" -o "-p $port" -l "$logf" -w -t 60 start >/dev/null \
		|| die "postgres ($name) did not start, see $logf"
	echo "$port" > "$STACK/$name.port"
}

pg_down() {
	local name data
	PG_BIN=$(find_pg_bin)
	[ -n "$PG_BIN" ] || return 0
	for name in $CLUSTERS; do
		data=$STACK/$name
		[ -s "$data/PG_VERSION" ] || continue
		pg_run "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	done
}

# --- versitygw -----------------------------------------------------------------
ensure_versitygw() {
	VGW=$STACK/bin/versitygw
	if [ ! -x "$VGW" ]; then
		ensure_go
		log "installing versitygw $VERSITYGW_VERSION (go install, once)"
		mkdir -p "$STACK/bin"
		GOBIN=$STACK/bin GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
	fi
}

s3_running() { [ -s "$STACK/s3.pid" ] && kill -0 "$(cat "$STACK/s3.pid")" 2>/dev/null; }

s3_up() {
	ensure_versitygw
	[ -s "$STACK/s3.secret" ] || head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK/s3.secret"
	local port
	port=$(pick_port s3 7070)
	mkdir -p "$STACK/s3/data" "$STACK/s3/meta"
	if ! s3_running; then
		port_free "$port" || { rm -f "$STACK/s3.port"; port=$(pick_port s3 $((port + 1))); }
		log "starting versitygw on 127.0.0.1:$port"
		ROOT_ACCESS_KEY=portal-dev ROOT_SECRET_KEY=$(cat "$STACK/s3.secret") \
			setsid nohup "$VGW" --port "127.0.0.1:$port" --quiet posix --sidecar "$STACK/s3/meta" "$STACK/s3/data" \
			>"$STACK/s3.log" 2>&1 < /dev/null &
		echo $! > "$STACK/s3.pid"
		local i
		for i in $(seq 1 100); do
			port_free "$port" || break
			s3_running || die "versitygw exited, see $STACK/s3.log"
			sleep 0.1
		done
		port_free "$port" && die "versitygw did not listen on $port, see $STACK/s3.log"
	fi
	echo "$port" > "$STACK/s3.port"
}

s3_down() {
	if s3_running; then kill "$(cat "$STACK/s3.pid")" 2>/dev/null || true; fi
	rm -f "$STACK/s3.pid"
}

# --- chromium (browser tests) ------------------------------------------------------
ensure_chromium() {
	[ -x /usr/bin/chromium ] || apt_install chromium
}

write_env() {
	local pg pgp s3 http metrics smtp
	pg=$(cat "$STACK/pg.port"); pgp=$(cat "$STACK/pg-projects.port"); s3=$(cat "$STACK/s3.port")
	http=$(pick_port http 8080); metrics=$(pick_port metrics 9090)
	# The SMTP intake's port is picked free like the others, so a second
	# checkout's portal does not fail to listen on a fixed 2525.
	smtp=$(pick_port smtp 2525)
	# The file holds the S3 secret: readable by its owner only.
	(umask 077 && : > "$ENV_FILE.tmp")
	cat > "$ENV_FILE.tmp" <<ENV
# Written by scripts/stack.sh; read by the Makefile, the binaries and the tests.
PORTAL_DATABASE_URL=postgres://postgres@127.0.0.1:$pg/portal?sslmode=disable
PORTAL_PROJECTS_ADMIN_URL=postgres://postgres@127.0.0.1:$pgp/postgres?sslmode=disable
PORTAL_S3_ENDPOINT=http://127.0.0.1:$s3
PORTAL_S3_REGION=us-east-1
PORTAL_S3_BUCKET=$BUCKET
PORTAL_S3_PREFIX=daily
PORTAL_S3_ACCESS_KEY=portal-dev
PORTAL_S3_SECRET_KEY=$(cat "$STACK/s3.secret")
PORTAL_S3_PATH_STYLE=true
PORTAL_HTTP_ADDR=127.0.0.1:$http
PORTAL_BASE_URL=http://127.0.0.1:$http
PORTAL_METRICS_ADDR=127.0.0.1:$metrics
PORTAL_SMTP_ADDR=127.0.0.1:$smtp
PORTAL_PG_BIN=$PG_BIN
PORTAL_PG_DUMP=$PG_BIN/pg_dump
ENV
	chmod 600 "$ENV_FILE.tmp"
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

ensure_databases() {
	local pg
	pg=$(cat "$STACK/pg.port")
	"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$pg" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'portal'" | grep -q 1 \
		|| "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$pg" -U postgres -d postgres -c 'CREATE DATABASE portal' >/dev/null
}

status() {
	local ok=0
	PG_BIN=$(find_pg_bin)
	local name
	for name in $CLUSTERS; do
		if [ -n "$PG_BIN" ] && [ -s "$STACK/$name/PG_VERSION" ] && pg_run "$PG_BIN/pg_ctl" -D "$STACK/$name" status >/dev/null 2>&1; then
			echo "postgres ($name): running on 127.0.0.1:$(cat "$STACK/$name.port")"
		else echo "postgres ($name): stopped"; ok=1; fi
	done
	if s3_running; then echo "versitygw: running on 127.0.0.1:$(cat "$STACK/s3.port") (pid $(cat "$STACK/s3.pid"))"
	else echo "versitygw: stopped"; ok=1; fi
	[ -f "$ENV_FILE" ] && echo "env file: $ENV_FILE"
	return $ok
}

case "${1:-up}" in
	up)
		ensure_go
		pg_up pg 54329
		pg_up pg-projects 54339
		s3_up
		write_env
		ensure_databases
		;;
	deps) ensure_go; ensure_pg_bin; ensure_versitygw; ensure_chromium ;;
	chromium) ensure_chromium ;;
	down) s3_down; pg_down; log "stopped (data kept in $STACK)" ;;
	status) status ;;
	env) echo "$ENV_FILE" ;;
	*) die "usage: $0 up|down|status|env|deps|chromium" ;;
esac
