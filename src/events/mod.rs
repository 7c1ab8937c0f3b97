//! Todo events: every committed change to a user's todos, recorded in the
//! same transaction as the change with a per-user sequence number, fanned
//! out after commit over Redis pub/sub (one subscription per process) to
//! in-process subscribers, and replayed from PostgreSQL for resumption,
//! gaps and Redis outages.
//!
//! `model` holds the rows and queries, `bus` the fan-out, `service` the
//! recording, the gap-free subscription streams and the pull feed's pages
//! (whose rules are in `feed`), `graphql` the `todoEvents` and `changes`
//! subscriptions and `Query.changes`.

pub mod bus;
pub mod cursor;
pub mod error;
pub mod event;
pub mod feed;
pub mod graphql;
pub mod model;
pub mod service;

pub use bus::EventBus;
pub use error::EventError;
pub use service::{EventKind, EventService, TodoEvent};
