#!/usr/bin/env bash
# Instructions per request of a todoql binary, counted by callgrind.
#
#   benches/instructions/run.sh BINARY [list|listid|update|create]...
#
# Timed figures on this 2-core VM move by 10-25 % between runs of the same
# code (docs/benchmarks.md); an instruction count does not. This starts a
# throwaway PostgreSQL, runs BINARY under `valgrind --tool=callgrind`
# (cache off, no Redis), registers a user with 25 todos, and sends the
# bench's list query (`list`), its `list(id)` form (`listid`), its
# updateTodo with expectedVersion (`update`, one todo again and again) or
# its createTodo (`create`; last, as it adds todos to the list) 100 and
# then 600 times, one process each; the difference of the two totals over
# 500 is what one request costs, start-up and warm-up cancelled out. Use it
# for A/B of a change to the request path, then confirm with the bench.
# Needs valgrind and the PostgreSQL 15 binaries; run as root (PostgreSQL
# runs as the `postgres` user).
set -euo pipefail
bin=$(realpath "$1"); shift
modes=("${@:-list}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/todoql-instructions.XXXXXX)
chmod 755 "$work"
pg=/usr/lib/postgresql/15/bin
port=$((20000 + RANDOM % 20000))
app_port=$((port + 1))
mkdir -p "$work/pg" "$work/sock"
chown postgres "$work/pg" "$work/sock"
su postgres -c "$pg/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -c "$pg/pg_ctl -D $work/pg -l $work/sock/pg.log -o '-p $port -k $work/sock -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
# KEEP=1 keeps the work directory (the callgrind outputs) and says where.
finish() {
  su postgres -c "$pg/pg_ctl -D $work/pg stop -m fast" >/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap finish EXIT

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" PORT=$app_port HOST=127.0.0.1 \
  CACHE=false RUST_LOG=warn GRAPHIQL=false \
  JWT_SECRET=instructions-per-request-0123456789abcdef
# The user and its todos, written by the binary itself, outside the counts.
"$bin" >"$work/setup.log" 2>&1 &
server=$!
for _ in $(seq 1 60); do
  curl -sf -o /dev/null "http://127.0.0.1:$app_port/healthz" && break
  sleep 0.5
done
python3 "$here/client.py" "$app_port" "$work/token" 0 setup
kill -TERM "$server"
wait "$server" || true

# Runs the server under callgrind for `n` requests of `mode`; prints the total.
total() {
  local mode=$1 n=$2 out="$work/callgrind.$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >"$work/server.log" 2>&1 &
  local server=$!
  for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$app_port/healthz" && break
    sleep 1
  done
  python3 "$here/client.py" "$app_port" "$work/token" 20 "$mode" # warm-up
  python3 "$here/client.py" "$app_port" "$work/token" "$n" "$mode"
  kill -TERM "$server"
  wait "$server" || true
  grep -h '^summary:' "$out" | awk '{print $2}'
}
for mode in "${modes[@]}"; do
  small=$(total "$mode" 100)
  large=$(total "$mode" 600)
  echo "$mode: $(( (large - small) / 500 )) instructions per request ($(basename "$bin"))"
done
