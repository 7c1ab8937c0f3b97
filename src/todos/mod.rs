//! Todos: validation, keyset-paginated listing, optimistic concurrency and
//! bulk changes, owned per user.
//!
//! `domain` parses input, `cursor` encodes opaque page cursors, `model` holds
//! the Diesel rows and queries, `service` the use cases (shared by GraphQL
//! and the REST facade), and `graphql` the schema types and resolvers.

pub mod cursor;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod model;
pub mod order;
pub mod service;

pub use error::TodoError;
pub use service::TodoService;
