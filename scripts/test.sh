#!/usr/bin/env bash
# The whole test suite, against throwaway PostgreSQL and Redis servers that
# this script starts on free ports and removes again, whatever happens.
#
#   ./scripts/test.sh [extra cargo-nextest arguments]   # cargo test's without nextest
#   ./scripts/test.sh --exec COMMAND [ARGS...]   # any command, same services
#
# Before the tests it runs the offline delivery checks
# (scripts/check-delivery.sh; SKIP_DELIVERY_CHECKS=1 skips them). --exec
# only starts the servers: no delivery checks, no browser or npm packages
# (scripts/bench.sh and scripts/check-image.sh use it).
#
# Servers provided from outside (CI's service containers) are used instead
# of throwaway ones: set TEST_DATABASE_URL (a role that may CREATE DATABASE,
# e.g. postgres://todoql:todoql@127.0.0.1:5432/postgres) and/or
# TEST_REDIS_URL. CHROMIUM_PATH names another Chromium or Chrome binary.
#
# Missing server binaries are installed with apt-get when running as root;
# otherwise the script stops and prints the one command that installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# Servers given from outside are used as they are, never started or removed.
external_pg="${TEST_DATABASE_URL:-}"
external_redis="${TEST_REDIS_URL:-}"
exec_only=0
[ "${1:-}" = "--exec" ] && exec_only=1
delivery_checks=1
if [ "${SKIP_DELIVERY_CHECKS:-}" = 1 ] || [ "$exec_only" = 1 ]; then
  delivery_checks=0
fi

# --- 1. What this machine lacks -------------------------------------------
missing=()
[ -n "$external_pg" ] || [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
# Needed even with an external Redis: some tests start a server of their own.
command -v redis-server >/dev/null || missing+=(redis-server)
if [ "$exec_only" = 0 ]; then
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ] || { echo "CHROMIUM_PATH=$CHROMIUM_PATH is not executable" >&2; exit 1; }
  else
    command -v chromium >/dev/null || missing+=(chromium)
  fi
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ "$delivery_checks" = 1 ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing: ${missing[*]}. Install with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# Empty when PostgreSQL comes from TEST_DATABASE_URL and none is installed.
PG_BIN="$(pg_bin || true)"

# Offline checks of the delivery files (Dockerfile, compose, workflows,
# dashboards): seconds once their tools are installed, and before any server.
if [ "$delivery_checks" = 1 ]; then
  ./scripts/check-delivery.sh
fi

# --- 2. Throwaway servers -------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/todoql-test.XXXXXX")"
chmod 755 "$work"
pg_pid_dir="$work/pg"
cleanup() {
  set +e
  if [ -f "$pg_pid_dir/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$pg_pid_dir" -m immediate -w stop >/dev/null 2>&1
  fi
  if [ -f "$work/redis.pid" ]; then
    kill "$(cat "$work/redis.pid")" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# PostgreSQL refuses to run as root: run it as the postgres user then.
if [ "$(id -u)" = 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

if [ -n "$external_pg" ]; then
  say "PostgreSQL from TEST_DATABASE_URL"
else
  mkdir -p "$pg_pid_dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pg_pid_dir"
  chmod 700 "$pg_pid_dir"
  as_pg "$PG_BIN/initdb" -D "$pg_pid_dir" -U todoql -A trust -E UTF8 --no-locale >/dev/null
  pg_port="$(free_port)"
  # Durability is pointless for a throwaway cluster; speed is not.
  as_pg "$PG_BIN/pg_ctl" -D "$pg_pid_dir" -l "$pg_pid_dir/server.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_pid_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
  say "PostgreSQL on 127.0.0.1:$pg_port"
  export TEST_DATABASE_URL="postgres://todoql@127.0.0.1:$pg_port/postgres"
fi

if [ -n "$external_redis" ]; then
  say "Redis from TEST_REDIS_URL"
else
  redis_port="$(free_port)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log"
  for _ in $(seq 50); do [ -f "$work/redis.pid" ] && break; sleep 0.1; done
  say "Redis on 127.0.0.1:$redis_port"
  export TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

# --- 3. JavaScript test tools (tests/js: graphql-http audit, headless -------
# browser, and the GraphQL client libraries the compatibility tests drive).
if [ "$exec_only" = 0 ]; then
  js=tests/js
  if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
    say "npm ci in $js"
    (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# --- 4. Tests ---------------------------------------------------------------
# Every test can share a process with every other (each app has its own
# telemetry pipeline), so cargo test runs the same suite nextest does.
if [ "${1:-}" = "--exec" ]; then
  shift
  "$@"
elif cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
