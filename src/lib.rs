//! todoql: a GraphQL backend for todo apps. The map of the code, with the
//! allowed dependency directions and the path of a request and an event, is
//! `docs/architecture.md`.
//!
//! Features (each with its model, service and GraphQL layer):
//! - [`auth`][]: accounts, passwords, access and refresh tokens, email
//!   verification, the one authentication path;
//! - [`todos`][]: todos, keyset pagination, optimistic concurrency;
//! - [`events`][]: the event log and real-time fan-out behind subscriptions;
//! - [`jobs`][]: the durable job queue, workers and email;
//! - [`cache`][]: Redis, the read cache and persisted queries;
//! - [`rate_limit`][]: fixed-window limits shared through Redis;
//! - [`budget`][]: the per-user complexity budget, counted locally and
//!   synced with Redis in batches;
//! - [`idempotency`][]: idempotency keys, so a retried write runs once.
//!
//! Wiring: [`app`] (assembly and lifecycle), [`state`] (what handlers
//! share), [`http`] (router, GraphQL over HTTP and WebSocket, REST facade,
//! web app) and [`graphql`] (schema, admission pipeline, request context).
//!
//! Leaf modules: [`error`] (the error catalogue), [`config`], [`client_id`]
//! (ids chosen by clients), [`db`] (pool,
//! migrations), [`telemetry`] (logs, traces, metrics), [`schema`] (Diesel
//! tables), [`devdb`] (a local PostgreSQL for `serve` without
//! `DATABASE_URL`), [`write_claim`] (the idempotency claim a write
//! transaction marks applied) and [`stream_tap`] (what a shared
//! subscription run learns from inside its execution).

pub mod app;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod client_id;
pub mod config;
pub mod db;
pub mod devdb;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod lists;
pub mod rate_limit;
pub mod schema;
pub mod state;
pub mod stream_tap;
pub mod telemetry;
pub mod todos;
pub mod write_claim;
