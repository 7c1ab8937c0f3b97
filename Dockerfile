# syntax=docker/dockerfile:1
#
# todoql: multi-stage build. Dependencies are compiled in a layer of their
# own (cargo-chef), so a change to the sources recompiles only the crate.
# Builder and runtime share Debian 12 (bookworm), so the binary's glibc
# matches. The binary embeds the migrations, GraphiQL assets and email
# templates: the runtime image needs nothing else.

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# The recipe lists the dependency graph only; it changes when Cargo.toml or
# Cargo.lock do, not when the sources do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin todoql
COPY . .
# Installed without its symbol table (-s): 7 of the binary's 31 MB, and the
# release profile has no debug info to lose. Panics still name file:line.
RUN cargo build --release --locked --bin todoql \
    && install -s -m 0755 target/release/todoql /usr/local/bin/todoql

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to managed PostgreSQL, Redis, SMTP and OTLP endpoints.
# Unpinned on purpose: the version follows bookworm's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 todoql \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin todoql
COPY --from=builder /usr/local/bin/todoql /usr/local/bin/todoql
USER 10001:10001
# Production defaults (config.rs): JWT_SECRET, SMTP_URL and DATABASE_URL
# must come from the environment. HOST 0.0.0.0 so the port is reachable
# from outside the container.
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    RUST_LOG=info
EXPOSE 8080
# `todoql healthcheck` GETs /healthz on HOST:PORT (127.0.0.1 when HOST is
# 0.0.0.0) and exits 0 on a 200; it reads the same environment as the server.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["todoql", "healthcheck"]
# No ENTRYPOINT: `docker run IMAGE todoql migrate`, Fly's release_command and
# process commands all name the binary.
CMD ["todoql", "serve"]
