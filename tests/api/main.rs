//! Integration tests: one binary (fast to link), one module per area. Each
//! test spawns the app on port 0 against a fresh database cloned from a
//! migrated template, with its own Redis key prefix, and talks to it over
//! HTTP as clients do. Run through `./scripts/test.sh`, which provides the
//! throwaway PostgreSQL and Redis. What tests share ([`support::TestApp`]
//! and its request helpers, the WebSocket client, the SMTP sink, Redis and
//! process helpers) is in `support/`; an area too big for one file is a
//! folder with a file per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

mod auth;
mod body_limit;
mod cache;
mod clients;
mod feed;
mod frontend;
mod hardening;
mod http_spec;
mod idempotency;
mod jobs;
mod known_shapes;
mod lifecycle;
mod lists;
mod pagination;
mod response_order;
mod rest;
mod schema;
mod subscriptions;
mod telemetry;
mod todos;
mod trash;
mod verification;
