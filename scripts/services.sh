#!/usr/bin/env bash
# Test services for the integration tests: PostgreSQL and Redis.
#
#   bash scripts/services.sh up     find or start both (progress on stderr)
#   bash scripts/services.sh env    same, then print `export AUTHPOOL_TEST_POSTGRES_URL=...` lines
#   bash scripts/services.sh down   stop only the throwaway instances this script started
#
# Usage from another script: eval "$(bash scripts/services.sh env)"
#
# Order, for each service: the URL already in AUTHPOOL_TEST_POSTGRES_URL / AUTHPOOL_TEST_REDIS_URL;
# else a server already listening on 127.0.0.1:5432 / 6379; else a throwaway instance started from
# installed binaries (state under $AUTHPOOL_SERVICES_DIR, default /tmp/authpool-services); else
# `apt-get install` of postgresql / redis-server, then a throwaway instance.
# AUTHPOOL_SERVICES_IGNORE_RUNNING=1 skips the default-port probe (to exercise the throwaway path).
set -euo pipefail

STATE_DIR="${AUTHPOOL_SERVICES_DIR:-/tmp/authpool-services}"
PG_PORT="${AUTHPOOL_SERVICES_PG_PORT:-55432}"
REDIS_PORT="${AUTHPOOL_SERVICES_REDIS_PORT:-56379}"
APT_UPDATED=0

log() { echo "services: $*" >&2; }

tcp_open() { # host port
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pg_up() { # host port
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$1" -p "$2" -t 2
	else
		tcp_open "$1" "$2"
	fi
}

redis_up() { # host port
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = "PONG" ]
	else
		tcp_open "$1" "$2"
	fi
}

apt_install() {
	command -v apt-get >/dev/null 2>&1 || { log "no apt-get: install $* yourself"; return 1; }
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	if [ "$APT_UPDATED" -eq 0 ]; then
		"${sudo[@]}" apt-get update -qq >&2
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >&2
}

pg_bindir() {
	local dir
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

# Run a PostgreSQL binary as a non-root user (the server refuses to run as root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_postgres() {
	local bindir data
	bindir="$(pg_bindir)" || { apt_install postgresql && bindir="$(pg_bindir)"; } || return 1
	data="$STATE_DIR/pg"
	mkdir -p "$STATE_DIR"
	if [ ! -f "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$STATE_DIR" "$data"
		as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null
	fi
	as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
		-o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
	as_pg "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" |
		grep -q 1 || as_pg "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres test
	echo "$bindir" >"$STATE_DIR/pg.bindir"
	log "started throwaway PostgreSQL on 127.0.0.1:$PG_PORT"
}

start_redis() {
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server || return 1
	mkdir -p "$STATE_DIR"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
		--pidfile "$STATE_DIR/redis.pid" --logfile "$STATE_DIR/redis.log" >/dev/null
	for _ in $(seq 1 50); do redis_up 127.0.0.1 "$REDIS_PORT" && break; sleep 0.1; done
	log "started throwaway Redis on 127.0.0.1:$REDIS_PORT"
}

resolve_postgres() {
	if [ -n "${AUTHPOOL_TEST_POSTGRES_URL:-}" ]; then echo "$AUTHPOOL_TEST_POSTGRES_URL"; return; fi
	if [ -z "${AUTHPOOL_SERVICES_IGNORE_RUNNING:-}" ] && pg_up 127.0.0.1 5432; then echo "postgres://postgres@127.0.0.1:5432/test"; return; fi
	pg_up 127.0.0.1 "$PG_PORT" || start_postgres
	echo "postgres://postgres@127.0.0.1:$PG_PORT/test"
}

resolve_redis() {
	if [ -n "${AUTHPOOL_TEST_REDIS_URL:-}" ]; then echo "$AUTHPOOL_TEST_REDIS_URL"; return; fi
	if [ -z "${AUTHPOOL_SERVICES_IGNORE_RUNNING:-}" ] && redis_up 127.0.0.1 6379; then echo "redis://127.0.0.1:6379"; return; fi
	redis_up 127.0.0.1 "$REDIS_PORT" || start_redis
	echo "redis://127.0.0.1:$REDIS_PORT"
}

down() {
	if [ -f "$STATE_DIR/pg.bindir" ] && [ -f "$STATE_DIR/pg/postmaster.pid" ]; then
		as_pg "$(cat "$STATE_DIR/pg.bindir")/pg_ctl" -D "$STATE_DIR/pg" -m fast -w stop >/dev/null && log "stopped PostgreSQL"
	fi
	if [ -f "$STATE_DIR/redis.pid" ]; then
		redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
		rm -f "$STATE_DIR/redis.pid"
		log "stopped Redis"
	fi
	rm -rf "$STATE_DIR"
}

case "${1:-}" in
up)
	log "postgres: $(resolve_postgres | sed -E 's#//([^:@/]+):[^@]*@#//\1:***@#')"
	log "redis: $(resolve_redis | sed -E 's#//([^:@/]*):[^@]*@#//\1:***@#')"
	;;
env)
	pg_url="$(resolve_postgres)"
	redis_url="$(resolve_redis)"
	printf 'export AUTHPOOL_TEST_POSTGRES_URL=%q\n' "$pg_url"
	printf 'export AUTHPOOL_TEST_REDIS_URL=%q\n' "$redis_url"
	;;
down) down ;;
*)
	echo "usage: $0 up|down|env" >&2
	exit 2
	;;
esac
