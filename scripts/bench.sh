#!/usr/bin/env bash
# The load benchmark (docs/benchmarks.md): builds benches/load/ and the
# todoql binary in release mode, then runs the benchmark against throwaway
# PostgreSQL and Redis started by scripts/test.sh --exec.
#
#   ./scripts/bench.sh [--no-pin] [--quick|--full] [--out FILE] [--perf SCENARIO-PREFIX]
#                      [--only FAN-OUT-PREFIX[|…]]   (only those fan-out rows; names hold commas)
#   ./scripts/bench.sh --compare OLD.json NEW.json
#
# --quick (default) takes about 3 minutes, --full about 10. Results go to
# the terminal and to a JSON file (default target/bench/bench-MODE-TIME.json).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

say "building the benchmark and todoql (release)"
bench_bin="$(cargo bench --bench load --no-run --message-format=json 2>/dev/null \
  | grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
if [ -z "$bench_bin" ] || [ ! -x "$bench_bin" ]; then
  cargo bench --bench load --no-run # show the build error
  exit 1
fi

if [ "${1:-}" = "--compare" ]; then
  exec "$bench_bin" "$@"
fi

command -v taskset >/dev/null || say "taskset not found: servers and load generator will not be pinned"

# The benchmark stops everything it starts; should it be killed outright,
# this stops the servers it left behind (by pid, from its pid file).
pidfile="$(mktemp "${TMPDIR:-/tmp}/todoql-bench-pids.XXXXXX")"
cleanup() {
  if [ -s "$pidfile" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done <"$pidfile"
  fi
  rm -f "$pidfile"
}
trap cleanup EXIT INT TERM

BENCH_PIDFILE="$pidfile" ./scripts/test.sh --exec "$bench_bin" "$@"
