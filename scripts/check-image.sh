#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile, unchanged,
# with podman, runs it against throwaway PostgreSQL and Redis, and checks
# what `docker compose up` and a deploy rely on. No Docker engine and no
# registry are needed:
#
#   ./scripts/check-image.sh
#
# 1. The base images the Dockerfile names are made locally, since none can
#    be pulled: `debian:bookworm-slim` is a bookworm root filesystem built
#    by mmdebstrap from Debian's archive; `rust:<RUST_VERSION>-bookworm` is
#    that image plus C build tools and this machine's own Rust toolchain
#    (which must be the Dockerfile's RUST_VERSION). Both are kept, keyed by
#    their inputs, in podman's storage and in TODOQL_IMAGE_CACHE
#    (/var/cache/todoql-image), and made again only when an input changes.
# 2. `podman build --format docker` (Docker's format keeps HEALTHCHECK).
#    The layers before the first copy of the sources (cargo-chef and the
#    compiled dependencies, the runtime's packages) stay in podman's
#    storage as the next run's cache; the rest is removed.
# 3. Under `scripts/test.sh --exec` (throwaway PostgreSQL and Redis, or
#    TEST_DATABASE_URL / TEST_REDIS_URL), with host networking: `todoql
#    migrate`, then `todoql serve` as the image's CMD: uid and gid 10001,
#    /healthz and /readyz 200, register + createTodo + todos over GraphQL,
#    the image's own HEALTHCHECK passes, a `todoql worker` container sends
#    the welcome email (to an SMTP sink run here), SIGTERM stops both with
#    exit 0 within the 30 s grace period of compose and Fly, and the image
#    is smaller than 120 MB.
#
# Every container and image it starts is removed again, whatever happens.
# Needs root (podman and mmdebstrap run rootful); podman, runc, mmdebstrap
# and curl are installed with apt-get when missing. podman runs with runc,
# the cgroupfs manager and no default ulimits, from a CONTAINERS_CONF file
# of its own: nothing under /etc is changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'check-image FAILED: %s\n' "$*" >&2; exit 1; }

# Host networking: the app listens on a free port of this machine.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# The graceful stop allowed by docker-compose.yml (stop_grace_period) and
# fly.toml (kill_timeout).
GRACE_SECS=30
MAX_IMAGE_BYTES=120000000

# === Part 2: the checks, run by scripts/test.sh --exec (see the bottom) ====
if [ "${1:-}" = "--run-checks" ]; then
  image="$2"
  work="$3"
  : "${TEST_DATABASE_URL:?run under scripts/test.sh --exec}" "${TEST_REDIS_URL:?}"
  run="todoql-check-$$"
  db="todoql_image_$$"
  prefix="todoql-image-$$:"
  containers=()

  cleanup_checks() {
    set +e
    for c in "${containers[@]}"; do
      podman rm --force --time 0 "$c" >/dev/null 2>&1
    done
    [ -f "$work/smtp.pid" ] && kill "$(cat "$work/smtp.pid")" 2>/dev/null
    psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    redis-cli -u "$TEST_REDIS_URL" --scan --pattern "$prefix*" 2>/dev/null |
      xargs -r redis-cli -u "$TEST_REDIS_URL" del >/dev/null 2>&1
  }
  trap cleanup_checks EXIT
  trap 'exit 1' INT TERM

  # Shows what a failed container said, then fails.
  fail_with_logs() {
    podman logs --tail 40 "$1" >&2 2>&1 || true
    fail "$2"
  }

  psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
  db_url="${TEST_DATABASE_URL%/*}/$db"
  port="$(free_port)"
  smtp_port="$(free_port)"
  # What production requires (config.rs); APP_ENV=production, HOST=0.0.0.0
  # and PORT come from the image, PORT overridden to a free one. The app
  # leaves jobs to the worker, as in docker-compose.yml.
  env_args=(
    -e "DATABASE_URL=$db_url"
    -e "REDIS_URL=$TEST_REDIS_URL"
    -e "REDIS_KEY_PREFIX=$prefix"
    -e "JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0)"
    -e "SMTP_URL=smtp://127.0.0.1:$smtp_port"
    -e "PORT=$port"
    -e "JOBS_IN_PROCESS=false"
  )
  # There is no systemd here to time the image's health checks: one-off
  # and worker containers skip them (compose disables the worker's too),
  # the server keeps the image's check but it is run on demand below.
  run_args=(--network host --pull never "${env_args[@]}")
  no_health=(--no-healthcheck)

  # --- migrate ---------------------------------------------------------------
  say "todoql migrate (one-off container)"
  containers+=("$run-migrate")
  out="$(podman run --rm --name "$run-migrate" "${run_args[@]}" "${no_health[@]}" "$image" todoql migrate)" ||
    fail "todoql migrate exited non-zero"
  printf '%s\n' "$out"
  [[ "$out" =~ applied\ ([1-9][0-9]*)\ migration ]] ||
    fail "todoql migrate applied no migration to an empty database"

  # --- serve -----------------------------------------------------------------
  say "todoql serve (the image's CMD) on 127.0.0.1:$port"
  containers+=("$run-app")
  # (podman still says once that it found no systemd: that line is dropped.)
  podman run -d --name "$run-app" "${run_args[@]}" --health-interval disable "$image" \
    2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null
  status=""
  for _ in $(seq 120); do
    status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)"
    [ "$status" = 200 ] && break
    [ "$(podman container inspect -f '{{.State.Running}}' "$run-app")" = true ] ||
      fail_with_logs "$run-app" "the server exited before answering /healthz"
    sleep 0.5
  done
  [ "$status" = 200 ] || fail_with_logs "$run-app" "/healthz did not answer 200 within 60 s"

  pid="$(podman container inspect -f '{{.State.Pid}}' "$run-app")"
  uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")"
  gids="$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")"
  say "process $(cat "/proc/$pid/comm"): uids $uids, gids $gids"
  [ "$uids" = "10001 10001 10001 10001" ] || fail "the server does not run as uid 10001 ($uids)"
  [ "$gids" = "10001 10001 10001 10001" ] || fail "the server does not run as gid 10001 ($gids)"

  for path in /healthz /readyz; do
    status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port$path")"
    say "GET $path: $status"
    [ "$status" = 200 ] || fail_with_logs "$run-app" "GET $path answered $status, not 200"
  done

  say "GraphQL round trip: register, createTodo, todos"
  python3 - "http://127.0.0.1:$port/graphql" <<'PY' || fail_with_logs "$run-app" "GraphQL round trip"
import json, sys, urllib.request, uuid

url = sys.argv[1]

def gql(query, variables=None, token=None):
    req = urllib.request.Request(
        url,
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"content-type": "application/json",
                 **({"authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.load(resp)
    if body.get("errors"):
        sys.exit(f"GraphQL errors: {body['errors']}")
    return body["data"]

email = f"image-{uuid.uuid4().hex[:12]}@example.com"
auth = gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken user { email } } }",
           {"i": {"email": email, "password": "container check", "displayName": "Image"}})["register"]
assert auth["user"]["email"] == email, auth
token = auth["accessToken"]
title = "Built and run from the Dockerfile"
todo = gql("mutation($t: String!) { createTodo(input: {title: $t}) { id title } }",
           {"t": title}, token)["createTodo"]
page = gql("{ todos(first: 10) { totalCount nodes { id title } } }", token=token)["todos"]
if page["totalCount"] != 1 or page["nodes"] != [todo]:
    sys.exit(f"todos does not list the created todo: {page}")
print(f"ok -- {email} created and listed todo {todo['id']}")
PY

  health="$(podman image inspect -f '{{json .HealthCheck.Test}}' "$image")"
  [ "$health" != null ] || fail "the image has no HEALTHCHECK"
  say "the image's HEALTHCHECK $health, run in the container as its user"
  podman healthcheck run "$run-app" || fail_with_logs "$run-app" "the HEALTHCHECK command failed"
  podman container inspect -f 'health: {{.State.Health.Status}}' "$run-app" >&2

  # --- worker --------------------------------------------------------------
  # register queued a welcome email; a worker container sends it to a sink.
  python3 - "$smtp_port" "$work/mail" <<'PY' &
import socketserver, sys

class Sink(socketserver.StreamRequestHandler):
    def handle(self):
        reply = lambda text: self.wfile.write(text.encode() + b"\r\n")
        reply("220 sink")
        in_data = False
        for line in self.rfile:
            if in_data:
                if line.rstrip(b"\r\n") == b".":
                    in_data = False
                    with open(sys.argv[2], "a") as f:
                        f.write("message\n")
                    reply("250 accepted")
            elif line[:4].upper() == b"DATA":
                in_data = True
                reply("354 go on")
            elif line[:4].upper() == b"QUIT":
                reply("221 bye")
                return
            else:
                reply("250 ok")

socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
  echo $! >"$work/smtp.pid"
  say "todoql worker container (SMTP sink on 127.0.0.1:$smtp_port)"
  containers+=("$run-worker")
  podman run -d --name "$run-worker" "${run_args[@]}" "${no_health[@]}" "$image" todoql worker >/dev/null
  sent=0
  for _ in $(seq 60); do
    sent="$(psql "$db_url" -Atc "SELECT count(*) FROM jobs WHERE state = 'succeeded'")"
    [ "$sent" -ge 1 ] && break
    [ "$(podman container inspect -f '{{.State.Running}}' "$run-worker")" = true ] ||
      fail_with_logs "$run-worker" "the worker exited"
    sleep 0.5
  done
  [ "$sent" -ge 1 ] && [ -s "$work/mail" ] ||
    fail_with_logs "$run-worker" "the worker did not send the welcome email within 30 s"
  say "the worker sent $(wc -l <"$work/mail") email(s)"

  # --- graceful stop -------------------------------------------------------
  for c in "$run-app" "$run-worker"; do
    start=$SECONDS
    podman kill --signal TERM "$c" >/dev/null
    code="$(timeout $((GRACE_SECS + 5)) podman wait "$c" || echo timeout)"
    took=$((SECONDS - start))
    say "$c: SIGTERM -> exit $code after ${took}s"
    [ "$code" != timeout ] || fail_with_logs "$c" "$c did not stop within $((GRACE_SECS + 5))s of SIGTERM"
    [ "$code" = 0 ] || fail_with_logs "$c" "$c exited with $code after SIGTERM, not 0"
    [ "$took" -le "$GRACE_SECS" ] || fail "$c took ${took}s to stop (grace period ${GRACE_SECS}s)"
  done

  say "image checks passed"
  exit 0
fi

# === Part 1: tools, base images, build =====================================
[ "$(id -u)" = 0 ] || fail "run as root: podman and mmdebstrap run rootful here"

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/todoql-image.XXXXXX")"
run_tag="localhost/todoql:check-$$"
build_log="$work/build.log"
cache_tag="localhost/todoql-build-cache"

# crun refuses this machine's hybrid cgroup layout and its setrlimit.
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# The build's layers, stage by stage, from podman's log: lines
# "<stage alias> <0|1> <image id>", 1 from the first copy of the sources
# (`COPY . …` or `COPY --from=builder …`) on, since those layers change with
# every commit.
build_layers() {
  awk '
    match($0, /^\[[0-9]+\/[0-9]+\] STEP [0-9]+\/[0-9]+: /) {
      step = substr($0, RLENGTH + 1)
      if (step ~ /^FROM /) {
        n = split(step, w, " ")
        stage = (n >= 4 && tolower(w[3]) == "as") ? w[4] : "stage"
        tainted = 0
      } else if (step ~ /^COPY (--chown=[^ ]+ )?\. / || step ~ /^COPY --from=builder /) {
        tainted = 1
      }
      next
    }
    /^--> [0-9a-f]+$/ { print stage, tainted, $2 }
  ' "$build_log" 2>/dev/null
}

cleanup() {
  set +e
  if [ -f "$build_log" ]; then
    # Keep the last layer before the sources of each stage as the next
    # run's cache (tagged, so removing the image below does not take it);
    # a cache layer it replaces goes.
    while read -r stage id; do
      old="$(podman image inspect -f '{{.Id}}' "$cache_tag:$stage" 2>/dev/null)"
      podman tag "$id" "$cache_tag:$stage" >/dev/null 2>&1
      new="$(podman image inspect -f '{{.Id}}' "$cache_tag:$stage" 2>/dev/null)"
      [ -n "$old" ] && [ "$old" != "$new" ] && podman rmi "$old" >/dev/null 2>&1
    done < <(build_layers | awk '$2 == 0 { last[$1] = $3 } END { for (s in last) print s, last[s] }')
  fi
  podman rmi --force "$run_tag" >/dev/null 2>&1
  # The layers built on this run's sources, newest first.
  build_layers | awk '$2 == 1 { print $3 }' | tac | while read -r id; do
    podman rmi "$id" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- Base images --------------------------------------------------------
CACHE="${TODOQL_IMAGE_CACHE:-/var/cache/todoql-image}"
mkdir -p "$CACHE"
SUITE=bookworm
MIRRORS=(
  "deb http://deb.debian.org/debian $SUITE main"
  "deb http://deb.debian.org/debian $SUITE-updates main"
  "deb http://deb.debian.org/debian-security $SUITE-security main"
)
# What the official slim image is: minbase, merged /usr, no man pages,
# documentation (copyright files excepted) or translations, and the apt
# settings of Docker's Debian images: no package caches left in layers (they
# would add ~90 MB to every `apt-get install`), compressed lists, no
# service starts.
SLIM_OPTS=(
  --variant=minbase
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/linda/*'
  --dpkgopt='path-exclude=/usr/share/lintian/overrides/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)
# Files added to the root filesystem (under $1).
slim_files() {
  mkdir -p "$1/etc/apt/apt.conf.d" "$1/usr/sbin"
  cat >"$1/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$1/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' \
    >"$1/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' >"$1/etc/apt/apt.conf.d/docker-no-languages"
  printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
  chmod 755 "$1/usr/sbin/policy-rc.d"
}

key_of() { sha256sum | cut -c1-16; }

# Gives IMAGE (a key-tagged local name) the public NAME the Dockerfile uses.
# Loads it from the cache folder's ARCHIVE, or makes it with the function
# MAKE (which tags IMAGE) and saves it there, when podman does not have it.
provide_image() {
  local image="$1" name="$2" archive="$3" make="$4" prefix="$5"
  if podman image exists "$image"; then
    say "$name: reusing $image"
  elif [ -f "$archive" ]; then
    say "$name: loading $archive"
    podman load -q -i "$archive" >/dev/null
  else
    "$make"
    say "$name: saving $archive"
    rm -f "$prefix"*.tar
    podman save -q --format docker-archive -o "$archive.part" "$image"
    mv "$archive.part" "$archive"
  fi
  podman tag "$image" "$name"
  # Base images made from other inputs before: replaced.
  podman images --format '{{.Repository}}:{{.Tag}}' | grep -F "${image%:*}:" | grep -vxF "$image" |
    xargs -r podman rmi >/dev/null 2>&1 || true
}

make_slim() {
  say "debian:$SUITE-slim: mmdebstrap $SUITE from Debian's archive"
  local overlay="$work/slim-files"
  slim_files "$overlay"
  # apt's caches from the bootstrap itself go too: the cleanup mmdebstrap
  # does at the end follows the settings above, which name no cache. ($1 is
  # the root filesystem, expanded by mmdebstrap's hook.)
  # shellcheck disable=SC2016
  mmdebstrap "${SLIM_OPTS[@]}" --customize-hook="sync-in $overlay /" \
    --customize-hook='rm -f "$1"/var/cache/apt/*.bin' \
    --format=tar "$SUITE" "$work/slim.tar" "${MIRRORS[@]}" \
    >"$work/mmdebstrap.log" 2>&1 || { tail -n 40 "$work/mmdebstrap.log" >&2; fail "mmdebstrap"; }
  podman import -q --change 'CMD ["bash"]' "$work/slim.tar" "$slim_image" >/dev/null
  rm -f "$work/slim.tar"
}
slim_key="$(printf '%s\n' "$SUITE" "${MIRRORS[@]}" "${SLIM_OPTS[@]}" "$(declare -f slim_files make_slim)" \
  "$(mmdebstrap --version)" | key_of)"
slim_image="localhost/todoql-base/debian-$SUITE-slim:$slim_key"
t0=$SECONDS
provide_image "$slim_image" "docker.io/library/debian:$SUITE-slim" \
  "$CACHE/debian-$SUITE-slim-$slim_key.tar" make_slim "$CACHE/debian-$SUITE-slim-"

# The Dockerfile's Rust, from this machine's rustup: no toolchain can be
# downloaded here.
RUST_VERSION="$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)"
rustc_version="$(rustc -V | awk '{print $2}')"
case "$rustc_version" in
  "$RUST_VERSION" | "$RUST_VERSION".*) ;;
  *) fail "the Dockerfile wants Rust $RUST_VERSION; this machine's rustc is $rustc_version" ;;
esac
sysroot="$(rustc --print sysroot)"
toolchain="$rustc_version-$(rustc -vV | sed -n 's/^host: //p')"
# The official image: buildpack-deps' compilers and common -dev packages,
# rustup's minimal profile under RUSTUP_HOME, binaries in CARGO_HOME/bin.
# (Unlike it, RUSTUP_HOME is not made world-writable: a chmod in a later
# layer would store the whole toolchain twice, and builds run as root.)
# Plus the certificate authorities this machine added to its own trust
# store (/usr/local/share/ca-certificates): where HTTPS leaves through an
# intercepting proxy, `cargo install` and `cargo chef cook` reach crates.io
# only with them. They go into this builder image only, never the runtime.
LOCAL_CAS=(/usr/local/share/ca-certificates/*.crt)
[ -e "${LOCAL_CAS[0]}" ] || LOCAL_CAS=()
RUST_PACKAGES="ca-certificates curl git gcc g++ libc6-dev make patch pkg-config libssl-dev libpq-dev zlib1g-dev xz-utils"
rust_containerfile="FROM docker.io/library/debian:$SUITE-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends $RUST_PACKAGES \\
 && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/usr/local/rustup \\
    CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$rustc_version
COPY toolchain /usr/local/rustup/toolchains/$toolchain
COPY rustup /usr/local/cargo/bin/rustup
COPY local-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null 2>&1 \\
 && for tool in cargo rustc rustdoc rust-gdb rust-lldb; do \\
      ln -s rustup /usr/local/cargo/bin/\$tool; done \\
 && rustup default $toolchain \\
 && chmod -R a+w \$CARGO_HOME \\
 && cargo --version && rustc --version"
rust_key="$(printf '%s\n' "$slim_key" "$rust_containerfile" "$(rustc -vV)" "$(cargo -V)" \
  "$(rustup --version 2>/dev/null)" "$(cat /dev/null "${LOCAL_CAS[@]}" | sha256sum)" | key_of)"
rust_image="localhost/todoql-base/rust-$RUST_VERSION-$SUITE:$rust_key"
make_rust() {
  say "rust:$RUST_VERSION-$SUITE: debian:$SUITE-slim + build tools + Rust $rustc_version from $sysroot"
  local ctx="$work/rust-context"
  mkdir -p "$ctx"
  printf '%s\n' "$rust_containerfile" >"$ctx/Containerfile"
  # Hard links where possible: the toolchain is half a gigabyte.
  cp -al "$sysroot" "$ctx/toolchain" 2>/dev/null || cp -a "$sysroot" "$ctx/toolchain"
  rm -rf "$ctx/toolchain/share/doc"
  cp "$(command -v rustup)" "$ctx/rustup"
  mkdir "$ctx/local-ca"
  [ ${#LOCAL_CAS[@]} -eq 0 ] || cp "${LOCAL_CAS[@]}" "$ctx/local-ca/"
  podman build --pull=never --network host --format docker -t "$rust_image" "$ctx" \
    >"$work/rust-image.log" 2>&1 || { tail -n 40 "$work/rust-image.log" >&2; fail "building $rust_image"; }
  rm -rf "$ctx"
}
provide_image "$rust_image" "docker.io/library/rust:$RUST_VERSION-$SUITE" \
  "$CACHE/rust-$RUST_VERSION-$SUITE-$rust_key.tar" make_rust "$CACHE/rust-$RUST_VERSION-$SUITE-"
say "base images ready in $((SECONDS - t0))s"

# --- The build -----------------------------------------------------------
t0=$SECONDS
say "podman build (log: $build_log until the end of the run)"
if ! podman build --pull=never --network host --format docker --layers --force-rm \
  -f Dockerfile -t "$run_tag" . >"$build_log" 2>&1; then
  tail -n 60 "$build_log" >&2
  fail "podman build"
fi
grep -E '^(\[[0-9]+/[0-9]+\] STEP|--> Using cache)' "$build_log" | cut -c1-110 >&2
say "built in $((SECONDS - t0))s"

size="$(podman image inspect -f '{{.Size}}' "$run_tag")"
say "image size: $((size / 1000000)) MB ($size bytes)"
[ "$size" -lt "$MAX_IMAGE_BYTES" ] || fail "the image is $size bytes, not below $MAX_IMAGE_BYTES"

# --- The checks, against throwaway PostgreSQL and Redis -------------------
./scripts/test.sh --exec "$PWD/scripts/check-image.sh" --run-checks "$run_tag" "$work"
say "check-image passed in $((SECONDS - started))s"
