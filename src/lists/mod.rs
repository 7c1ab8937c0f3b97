//! Lists: todo lists, their members and roles, and the manual order of
//! their todos.
//!
//! `access` decides who may do what (the one place permissions live),
//! `guard` applies it inside write transactions, `position` makes the
//! fractional-indexing keys of manual order, `domain` parses input,
//! `model` and `invitation` hold the Diesel rows and queries, `service` the use cases,
//! `loader` the per-request DataLoaders, and `graphql` the resolvers.

pub mod access;
pub mod audience;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod guard;
pub mod invitation;
pub mod loader;
pub mod model;
pub mod position;
pub mod service;

pub use error::ListError;
pub use service::ListService;
