//! todoql: a GraphQL backend for todo apps.
//!
//! Features (each with its model, service and GraphQL layer):
//! - [`auth`][]: accounts, passwords, access and refresh tokens;
//! - [`todos`][]: todos, keyset pagination, optimistic concurrency;
//! - [`events`][]: the event log and real-time fan-out behind subscriptions;
//! - [`cache`][]: Redis;
//! - [`telemetry`][]: logging.
//!
//! Wiring: [`graphql`] (schema, error codes), [`http`] (router, GraphQL over
//! HTTP, REST facade), [`app`] (assembly and lifecycle), [`config`],
//! [`db`] (pool, migrations) and [`devdb`] (a local PostgreSQL for `serve`
//! without `DATABASE_URL`).

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod devdb;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod rate_limit;
pub mod schema;
pub mod state;
pub mod telemetry;
pub mod todos;
