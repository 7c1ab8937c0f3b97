//! Idempotency keys (issue 16): a write retried with the same key runs
//! once, on any instance, and every repeat gets the stored response.
//!
//! `domain` parses keys and computes the operation's fingerprint and scope
//! (pure, unit-tested); `replay` marks a stored result as replayed; `model`
//! holds the `idempotency_keys` row and its queries; `service` claims a key
//! (the primary key is the arbiter), stores the response, takes over an
//! abandoned claim and prunes keys after 24 hours. The claim a run holds is
//! handed to write transactions through the leaf [`crate::write_claim`].
//! The transports use it through the admission pipeline
//! ([`crate::graphql::admission`]) and the REST facade.

pub mod domain;
pub mod error;
pub mod model;
pub mod replay;
pub mod service;

pub use domain::{Fingerprint, IdempotencyKey, KeyScope, Transport};
pub use error::IdempotencyError;
pub use service::{Begin, IdempotencyService, Stored};
